"""Glob matching (policy/globs.py): the semantics of path patterns (`*`, `**`, `?`, anchoring,
case, trailing slashes, literal regex characters), and linear-time matching of adversarial
globs with several wildcard runs (RE2), while simple ones keep the fast engine."""

from __future__ import annotations

import re

import pytest

from mcp_acp.policy import globs
from tests.policy.test_engine import call, engine, verdict

# ================================================================ 5. path globs


@pytest.mark.parametrize(
    "pattern,path,matches",
    [
        # * stays inside one folder, ** crosses folders
        ("/p/*", "/p/a", True),
        ("/p/*", "/p/a/b", False),
        ("/p/*", "/p", False),
        ("/p/**", "/p/a", True),
        ("/p/**", "/p/a/b/c", True),
        ("/p/**", "/p", True),
        ("/p/**", "/pq", False),
        ("/p/**", "/pq/a", False),
        ("/p/**", "/", False),
        ("/p/*.txt", "/p/a.txt", True),
        ("/p/*.txt", "/p/d/a.txt", False),
        ("/p/**/x", "/p/a/b/x", True),
        ("/p/**.txt", "/p/d/a.txt", True),
        ("/**", "/anything/at/all", True),
        ("/**", "/", True),
        ("**/.env", "/p/.env", True),
        ("**/.env", "/p/q/.env", True),
        ("**/.env", "/p/.envrc", False),
        ("**/secrets/**", "/p/secrets/k", True),
        ("**/secrets/**", "/p/secrets", True),
        ("**/secrets/**", "/p/not-secrets/k", False),
        # ? is one character, never /
        ("/p/?.txt", "/p/a.txt", True),
        ("/p/?.txt", "/p/ab.txt", False),
        ("/p/?.txt", "/p/.txt", False),
        ("/p?q", "/p/q", False),
        ("/p?q", "/pxq", True),
        # anchored: whole path or nothing
        ("/p", "/p/a", False),
        ("/p", "/x/p", False),
        ("p/**", "/p/a", False),
        ("*.txt", "/p/a.txt", False),
        ("/p/a", "/p/a.txt", False),
        ("/p/a", "/p/a", True),
        # case-sensitive
        ("/P/**", "/p/a", False),
        ("/p/*.TXT", "/p/a.txt", False),
        ("/p/*.txt", "/p/a.TXT", False),
        # trailing slashes ignored on both sides
        ("/p/", "/p", True),
        ("/p", "/p/", True),
        ("/p/**/", "/p/a", True),
        ("/p/*/", "/p/a/", True),
        # regex-special characters are literal
        ("/p/a.b", "/p/axb", False),
        ("/p/[ab]", "/p/a", False),
        ("/p/[ab]", "/p/[ab]", True),
        ("/p/a+b", "/p/a+b", True),
        ("/p/a+b", "/p/aab", False),
        ("/p/(x)|y", "/p/(x)|y", True),
        ("/p/(x)|y", "/p/y", False),
        ("/p/$^", "/p/$^", True),
    ],
)
def test_path_glob_semantics(pattern, path, matches):
    """Over-broad or too-narrow globs turn into wrong allows or missed denies."""
    rule = {"id": "r", "effect": "allow", "conditions": {"path_pattern": pattern}}
    expected = ("allow", "r") if matches else ("deny", "default")
    assert verdict(engine(rule).evaluate(call("read_file", {"path": path}))) == expected


# --- linear-time matching (issue 16, class 7) ------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "conditions,request_ctx",
    [
        # Against Python's backtracking `re` these took 9.7 s and 4.2 s at a quarter of this input size.
        ({"path_pattern": "**/**/**/**/**/**/*a*a*a*a*a*b"}, lambda: call("read_file", {"path": "/" + "/a" * 300})),
        ({"tool_name": "*a*a*a*a*a*a*a*a*b"}, lambda: call("a" * 200, {})),
    ],
)
def test_adversarial_globs_are_matched_without_backtracking(conditions, request_ctx):
    """A glob with several `*` runs is compiled for RE2 (linear time); this would hang for hours
    on a backtracking engine (the timeout guards the suite; it is not a speed claim)."""
    for pattern in conditions.values():
        assert globs.star_runs(pattern) > 1
        to_regex = globs.path_regex if "/" in pattern else globs.name_regex
        assert type(globs.compile_any([pattern], to_regex)).__module__.startswith("re2")
    rule = {"id": "r", "effect": "allow", "conditions": conditions}
    assert verdict(engine(rule).evaluate(request_ctx())) == ("deny", "default")


def test_a_glob_with_one_wildcard_run_keeps_the_fast_engine():
    assert isinstance(globs.compile_any(["read_*", "/proj/**"], globs.name_regex), re.Pattern)
