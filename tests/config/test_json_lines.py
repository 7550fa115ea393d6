"""config/json_lines.py: the line of a path in a JSON text, as the raw policy editor shows problems."""

from __future__ import annotations

from mcp_acp.config.json_lines import line_of, offsets

TEXT = """{
  "a": 1,
  "list": [
    "x",
    {"deep": {"key": "va\\"l"}},
    [true, null, -1.5e3]
  ],
  "a": 2
}"""


def test_each_path_is_found_at_its_line():
    assert line_of(TEXT, ()) == 1
    assert line_of(TEXT, ("list",)) == 3
    assert line_of(TEXT, ("list", 0)) == 4
    assert line_of(TEXT, ("list", 1, "deep", "key")) == 5
    assert line_of(TEXT, ("list", 2, 2)) == 6
    assert line_of(TEXT, ("a",)) == 8  # a duplicate key: the last one, the one json.loads keeps


def test_a_missing_part_falls_back_to_the_nearest_known_one():
    assert line_of(TEXT, ("list", 1, "deep", "missing")) == 5
    assert line_of(TEXT, ("list", 1, "function-after[x]", "deep")) == 5  # pydantic's tags are skipped
    assert line_of(TEXT, ("nowhere",)) == 1


def test_invalid_json_has_no_offsets():
    assert offsets('{"a": }') == {} and line_of('{"a": }', ("a",)) == 1
    assert offsets("[" * 5000 + "]" * 5000) == {}  # too deep to walk: no crash
