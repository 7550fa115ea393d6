"""Every path a request carries, and every reading of each (policy/paths.py, issue 15)."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_acp.policy.paths import (
    DEST,
    MAX_PATHS,
    OTHER,
    PATH,
    PATH_MAX,
    READINGS,
    SOURCE,
    PathArg,
    as_filesystem_text,
    judge,
    judge_all,
    key_kind,
    match_key,
    path_arguments,
    readings_of,
    request_paths,
)

# ================================================================ keys


def distinct(readings: tuple[str, ...]) -> tuple[str, ...]:
    """The readings without repeats (readings_of keeps one per way of reading, in fixed positions)."""
    return tuple(dict.fromkeys(readings))


@pytest.mark.parametrize(
    "key,kind",
    [
        ("path", (True, True, PATH)),
        ("paths", (True, True, PATH)),
        ("file_path", (True, True, PATH)),
        ("filePath", (True, True, PATH)),
        ("file-path", (True, True, PATH)),
        ("FILE_PATH", (True, True, PATH)),
        ("filepath", (True, True, PATH)),
        ("file_name", (True, True, PATH)),
        ("fileName", (True, True, PATH)),
        ("directory", (True, True, PATH)),
        ("output_dir", (True, True, PATH)),
        ("workingDirectory", (True, True, PATH)),
        ("cwd", (True, True, PATH)),
        ("repoPath", (True, True, PATH)),
        ("input-file", (True, True, PATH)),
        ("sourcePath", (True, True, SOURCE)),
        ("source_path", (True, True, SOURCE)),
        ("from-file", (True, True, SOURCE)),
        ("srcDir", (True, True, SOURCE)),
        ("originPath", (True, True, SOURCE)),
        ("destinationPath", (True, True, DEST)),
        ("dest_dir", (True, True, DEST)),
        ("to-path", (True, True, DEST)),
        ("targetFile", (True, True, DEST)),
        ("source", (False, True, SOURCE)),
        ("src", (False, True, SOURCE)),
        ("from", (False, True, SOURCE)),
        ("destination", (False, True, DEST)),
        ("to", (False, True, DEST)),
        ("target", (False, True, DEST)),
        ("uri", (False, True, PATH)),
        ("URL", (False, True, PATH)),
        ("sourceUri", (False, True, SOURCE)),
        ("root", (False, True, PATH)),
        ("repository", (False, True, PATH)),
        ("output", (False, False, OTHER)),
        ("content", (False, False, OTHER)),
        ("text", (False, False, OTHER)),
        ("name", (False, False, OTHER)),
        ("pathological_case", (False, False, OTHER)),
        ("command", (False, False, OTHER)),
        ("", (False, False, OTHER)),
    ],
)
def test_key_kind(key, kind):
    """The last word (snake, camel or kebab case) says a key names a path; the first says its role."""
    assert key_kind(key) == kind


# ================================================================ path_arguments


def written(found: list[PathArg]) -> list[tuple[str, str, bool]]:
    return [(arg.written, arg.role, arg.keyed) for arg in found]


def test_path_arguments_at_any_depth_in_written_order():
    arguments = {
        "a": {"b": [{"path": "x"}, {"c": {"file": "/y"}}]},
        "source": "/s",
        "list": [["/deep/in/lists"], "text"],
        "destination": "/d",
    }
    assert written(path_arguments(arguments, False)) == [
        ("x", PATH, True),
        ("/y", PATH, True),
        ("/s", SOURCE, True),
        ("/deep/in/lists", OTHER, False),
        ("/d", DEST, True),
    ]


def test_arrays_take_their_key():
    assert written(path_arguments({"paths": ["/a", "b", ""], "items": ["/s", "t"]}, False)) == [
        ("/a", PATH, True),
        ("b", PATH, True),
        ("", PATH, True),
        ("/s", OTHER, False),
    ]
    # a list of objects: each object's own keys decide
    assert written(path_arguments({"files": [{"name": "n", "path": "/p"}]}, False)) == [("/p", PATH, True)]


def test_meta_is_skipped_at_every_level():
    arguments = {"_meta": {"path": "/m"}, "path": "/p", "x": [{"_meta": {"file": "/n"}, "to": "/t"}]}
    assert [arg.written for arg in path_arguments(arguments, False)] == ["/p", "/t"]


def test_non_strings_are_not_paths():
    assert path_arguments({"path": 5, "paths": [None, True, 1.5, {}], "file": None}, False) == []
    assert path_arguments(None, False) == [] and path_arguments(5, False) == []


def test_top_level_values_without_a_key():
    assert written(path_arguments(["/a", "b", "../c"], False)) == [("/a", OTHER, False), ("../c", OTHER, False)]
    assert written(path_arguments("/x", False)) == [("/x", OTHER, False)]
    assert written(path_arguments("x", False, key="path")) == [("x", PATH, True)]


@pytest.mark.parametrize(
    "value,without_roots,with_roots",
    [
        ("bob", False, True),
        ("bob@example.com", False, True),
        ("a/b", True, True),
        ("/abs", True, True),
        ("~/x", True, True),
        ("./x", True, True),
        ("..", True, True),
        ("file:///x", True, True),
        ("https://example.com/a", False, False),
        ("mailto:bob@example.com", False, False),
        ("s3://b/k", False, False),
    ],
)
@pytest.mark.parametrize("key", ["to", "source", "uri", "target", "fromUrl"])
def test_ambiguous_keys_with_and_without_roots(key, value, without_roots, with_roots):
    """`to: "bob"` may be an e-mail recipient: it counts when it looks like a path, or once the
    server's roots are known (then the server would take it relative to one)."""
    assert bool(path_arguments({key: value}, False)) is without_roots
    found = path_arguments({key: value}, True)
    assert bool(found) is with_roots
    if found:
        assert found[0].keyed


@pytest.mark.parametrize(
    "value,is_path",
    [
        ("/etc/passwd", True),
        ("~", True),
        ("~/notes", True),
        ("file:///etc/hosts", True),
        ("FILE:/x", True),
        ("../x", True),
        ("..", True),
        ("a/../b", True),
        ("a/..", True),
        ("./x", True),
        ("relative/file.txt", False),
        ("hello", False),
        ("", False),
        ("https://example.com/x", False),
        ("http://x/../y", True),
        ("mailto:a@b", False),
        ("rm -rf /", False),
        ("a/b/c", False),
    ],
)
def test_strings_under_ordinary_keys(value, is_path):
    """Anywhere else a string counts when it is absolute (`/`, `~`, `file:`) or climbs (`..`)."""
    found = path_arguments({"content": value}, False)
    assert written(found) == ([(value, OTHER, False)] if is_path else [])
    assert bool(path_arguments({"content": value}, True)) is is_path  # roots do not widen ordinary keys


def test_path_keys_take_anything_but_another_scheme():
    for value in ("", "x", "notes.md", "a b", "/x", "~", "file:///x", "a/../../b"):
        assert written(path_arguments({"path": value}, False)) == [(value, PATH, True)]
    assert path_arguments({"path": "https://example.com/a.md"}, False) == []


def test_path_max_limit():
    """Past PATH_MAX a string is no path anywhere but under a path key (where it is then refused)."""
    at, over = "/" + "a" * (PATH_MAX - 1), "/" + "a" * PATH_MAX
    assert [arg.written for arg in path_arguments({"content": at}, False)] == [at]
    assert path_arguments({"content": over}, False) == []
    assert [arg.written for arg in path_arguments({"path": over}, False)] == [over]
    problem = judge(PathArg(over, PATH, True), ()).problem
    assert problem and "too long" in problem and str(PATH_MAX) in problem
    assert judge(PathArg(at, PATH, True), ()).problem is None


def test_too_many_paths_are_refused():
    found = path_arguments({"paths": [f"/f{i}" for i in range(MAX_PATHS + 1)]}, False)
    assert len(found) == MAX_PATHS + 1
    judged = judge_all(found, ())
    assert len(judged) == 1 and judged[0].readings == () and str(MAX_PATHS) in judged[0].problem
    assert all(item.problem is None for item in judge_all(found[:MAX_PATHS], ()))


def test_judge_all_judges_a_repeated_path_once():
    found = path_arguments({"paths": ["/a", "/a", "/b"], "source": "/a"}, False)
    assert [item.written for item in judge_all(found, ())] == ["/a", "/b", "/a"]  # the source is another role


@pytest.mark.parametrize(
    "method,params,expected",
    [
        ("tools/call", {"name": "/not/a/path", "arguments": {"path": "/p"}}, ["/p"]),
        ("prompts/get", {"name": "p", "arguments": {"file": "/f"}}, ["/f"]),
        ("resources/read", {"uri": "file:///r", "arguments": {"dir": "/d"}}, ["file:///r", "/d"]),
        ("resources/read", {"uri": "https://x/r"}, []),
        (
            "completion/complete",
            {"argument": {"name": "path", "value": "x"}, "context": {"arguments": {"dir": "/d"}}},
            ["x", "/d"],
        ),
        ("completion/complete", {"argument": "junk", "context": 5}, []),
        ("logging/setLevel", {"level": "/x", "_meta": {"path": "/m"}}, ["/x"]),
    ],
)
def test_request_paths_by_method(method, params, expected):
    assert [arg.written for arg in request_paths(method, params, False)] == expected


# ================================================================ readings


def test_readings_of_a_plain_path():
    assert distinct(readings_of("/a/./b//c/")) == ("/a/b/c",)
    assert len(readings_of("/a/b")) == len(READINGS)  # fixed positions: one way of reading each


def test_readings_follow_links_before_and_after_dotdot(tmp_path: Path):
    """`d/../s/x` with d and s symlinks: as written (`s/x`, no link followed), where the kernel
    goes (d followed, then `..`), and where Node goes (`..` first, then s followed)."""
    (tmp_path / "deep" / "inner").mkdir(parents=True)
    (tmp_path / "target").mkdir()
    (tmp_path / "d").symlink_to(tmp_path / "deep" / "inner")
    (tmp_path / "s").symlink_to(tmp_path / "target")
    text = f"{tmp_path}/d/../s/x"
    assert readings_of(text) == (f"{tmp_path}/s/x", f"{tmp_path}/deep/s/x", f"{tmp_path}/target/x")
    assert distinct(readings_of(f"{tmp_path}/s/x")) == (f"{tmp_path}/s/x", f"{tmp_path}/target/x")


def test_nfd_spelling_is_read_in_nfc_too(tmp_path: Path):
    nfc = f"{tmp_path}/caf\u00e9/x"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    readings = readings_of(nfd)
    assert readings[0] == nfd and nfc in readings
    assert distinct(readings_of(nfc)) == (nfc,)
    assert match_key(nfd) == match_key(nfc)


def test_match_key_folds_case_only_where_the_filesystem_does():
    import mcp_acp.policy.paths as paths

    expected = "/a/b" if paths.CASE_INSENSITIVE_FS else "/A/b"
    assert match_key("/A/b") == expected


@pytest.mark.parametrize(
    "text,filesystem",
    [
        ("file:///a/b", "/a/b"),
        ("file://localhost/a%20b", "/a b"),
        ("FILE:///x/%2E%2E/y", "/x/../y"),
        ("//a//b", "/a//b"),
        ("///a", "/a"),
        ("~/x", "/home/u/x"),
        ("~", "/home/u"),
        ("rel", "rel"),
    ],
)
def test_as_filesystem_text(text, filesystem, monkeypatch):
    monkeypatch.setenv("HOME", "/home/u")
    assert as_filesystem_text(text) == filesystem


# ================================================================ judge


def test_absolute_paths_ignore_the_roots(monkeypatch):
    monkeypatch.setenv("HOME", "/home/u")
    assert distinct(judge(PathArg("/x/../y", PATH, True), ("/r",)).readings) == ("/y",)
    assert distinct(judge(PathArg("~/a", PATH, True), ()).readings) == ("/home/u/a",)
    assert distinct(judge(PathArg("file:///srv/a%20b", PATH, True), ()).readings) == ("/srv/a b",)


def test_relative_paths_are_judged_against_every_root():
    item = judge(PathArg("sub/../x", DEST, True), ("/a", "/b/"))
    assert (item.written, item.role, distinct(item.readings), item.problem) == (
        "sub/../x",
        DEST,
        ("/a/x", "/b/x"),
        None,
    )
    assert distinct(judge(PathArg("../../etc/passwd", PATH, True), ("/srv/data",)).readings) == ("/etc/passwd",)
    assert distinct(judge(PathArg("", PATH, True), ("/srv",)).readings) == ("/srv",)


def test_relative_paths_without_roots_cannot_be_judged():
    item = judge(PathArg("notes/a.txt", PATH, True), ())
    assert item.readings == () and "roots" in item.problem and "notes/a.txt" in item.problem


@pytest.mark.parametrize("text", ["/a\x00b", "\x00", "/x/\x00/../y", "rel\x00"])
def test_nul_bytes_cannot_be_judged(text):
    item = judge(PathArg(text, PATH, True), ("/r",))
    assert item.readings == () and "NUL" in item.problem


# ================================================================ never raises, never recurses

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
    | st.sampled_from(["/a", "../b", "~/c", "file:///d", "https://e/f", "", "x\x00", "/" * 5000]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["path", "paths", "to", "uri", "sourcePath", "content", "_meta", "dest-dir", "x"])
            | st.text(max_size=8),
            children,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(value=JSON, roots_known=st.booleans())
def test_path_arguments_never_raises(value, roots_known):
    found = path_arguments(value, roots_known)
    assert all(isinstance(arg.written, str) and arg.role in (PATH, SOURCE, DEST, OTHER) for arg in found)
    judged = judge_all(found, ("/r",) if roots_known else ())
    assert all(item.readings or item.problem for item in judged)


@pytest.mark.parametrize("shape", ["dict", "list", "mixed"])
def test_path_arguments_do_not_recurse(shape):
    """10,000 levels of nesting (far past Python's recursion limit) are walked iteratively."""
    value: object = {"path": "/bottom"}
    for level in range(10_000):
        value = {"k": value} if shape == "dict" or (shape == "mixed" and level % 2) else [value]
    assert [arg.written for arg in path_arguments(value, False)] == ["/bottom"]
    assert [arg.written for arg in request_paths("tools/call", {"arguments": value}, False)] == ["/bottom"]


def test_many_keys_are_classified_once_each():
    """Thousands of siblings with a handful of distinct keys stay cheap (and correct)."""
    value = [{"path": f"/p{i}", "content": "x"} for i in range(5000)]
    assert len(path_arguments(value, False)) == 5000


def test_free_text_is_not_a_path_and_never_refuses_a_request():
    """A file's content that starts like a path (a C comment, a shell line) is not judged; one
    that merely looks relative is left alone when no root can judge it."""
    found = path_arguments({"path": "/p/a.c", "content": "// header\nint main() {}", "note": "/* one */\tx"}, False)
    assert [arg.written for arg in found] == ["/p/a.c"]
    free = judge_all(path_arguments({"path": "/p/n.md", "content": "../README.md is stale"}, False), ())
    assert [(item.written, item.problem) for item in free] == [("/p/n.md", None)]


def test_an_overlong_path_under_a_key_that_may_name_one_is_refused():
    long = "/" + "./" * 2100 + "etc/passwd"
    (item,) = judge_all(path_arguments({"destination": long}, False), ())
    assert item.problem and "too long" in item.problem


def test_a_one_line_comment_is_content_not_a_path():
    found = path_arguments({"path": "/p/a.c", "content": "/* generated */", "note": "// TODO"}, True)
    assert [arg.written for arg in found] == ["/p/a.c"]
