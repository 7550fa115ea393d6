"""Building the decision context (policy/context.py) from a JSON-RPC message: a verified token's
claims become subject attributes with provenance `token`; every path, source and destination
argument is extracted and judged; resource URIs, resource types, action intents and the
subject/server/environment fields; malformed params never crash extraction."""

from __future__ import annotations

import time

import pytest

from mcp_acp.identity.local import Identity
from mcp_acp.policy.context import build_context
from tests.policy.test_engine import ALLOW_ALL, call, context, engine, read, verdict


def test_token_claims_become_subject_attributes():
    claims = {
        "sub": "auth0|alice",
        "iss": "https://idp",
        "aud": ["api", "other"],
        "azp": "mcp-acp-cli",
        "scope": "openid files:read",
        "iat": int(time.time()) - 30,
        "auth_time": 1700000000,
    }
    ctx = build_context(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "read_file"}},
        Identity("auth0|alice", "token", claims),
        "fs",
    )
    subject = ctx.subject
    assert (subject.id, subject.provenance, subject.issuer) == ("auth0|alice", "token", "https://idp")
    assert subject.audience == ("api", "other") and subject.client_id == "mcp-acp-cli"
    assert subject.scopes == frozenset({"openid", "files:read"}) and subject.auth_time == 1700000000
    assert 29 <= subject.token_age_s < 60


def test_local_identity_has_no_token_attributes():
    ctx = build_context({"jsonrpc": "2.0", "id": 1, "method": "ping"}, Identity("me", "local"), "fs")
    assert ctx.subject.provenance == "local"
    assert ctx.subject.token_age_s is None and ctx.subject.scopes == frozenset() and ctx.subject.issuer is None


# ================================================================ 11. context extraction


@pytest.mark.parametrize("key", ["source", "src", "from", "from_path", "source_path", "origin"])
def test_each_source_key_is_read(key):
    ctx = call("move_file", {key: "/in/./a"})
    assert ctx.resource.source_path == "/in/a"
    assert ctx.resource.path == "/in/a"  # no generic key: the path is the source


@pytest.mark.parametrize(
    "key", ["destination", "destination_path", "dest", "to", "to_path", "dest_path", "target", "target_path"]
)
def test_each_dest_key_is_read(key):
    ctx = call("move_file", {key: "/out//b/"})
    assert ctx.resource.dest_path == "/out/b"
    assert ctx.resource.path == "/out/b"  # no generic or source key: the path is the dest


@pytest.mark.parametrize("key", ["path", "file_path", "filepath", "file", "filename"])
def test_each_generic_key_is_read(key):
    ctx = call("read_file", {key: "/a/b/c.tar.gz"})
    assert (ctx.resource.path, ctx.resource.filename, ctx.resource.extension, ctx.resource.parent_dir) == (
        "/a/b/c.tar.gz",
        "c.tar.gz",
        ".gz",
        "/a/b",
    )
    assert ctx.resource.source_path is None and ctx.resource.dest_path is None


@pytest.mark.parametrize(
    "keys",
    [
        ["source", "src", "from", "from_path", "source_path", "origin"],
        ["origin", "src"],
        ["from_path", "from"],
        ["origin", "source_path"],
    ],
)
def test_every_source_key_is_judged(keys):
    """No key list with a priority any more: every source key is a path of the request, and
    `source_path` shows the first one written."""
    ctx = call("copy_file", {key: f"/{key}" for key in keys})
    assert ctx.paths == tuple(f"/{key}" for key in keys)
    assert {item.role for item in ctx.judged} == {"source"}
    assert ctx.resource.source_path == f"/{keys[0]}" and ctx.resource.path == f"/{keys[0]}"
    allow_first = {"id": "first", "effect": "allow", "conditions": {"path_pattern": f"/{keys[0]}"}}
    assert verdict(engine(allow_first).evaluate(ctx)) == ("deny", "default")  # the others are not allowed
    allow_all = {"id": "each", "effect": "allow", "conditions": {"path_pattern": [f"/{key}" for key in keys]}}
    assert verdict(engine(allow_all).evaluate(ctx)) == ("allow", "each")


@pytest.mark.parametrize(
    "keys",
    [
        ["target_path", "target", "dest_path", "to_path", "to", "dest", "destination_path", "destination"],
        ["target", "to"],
        ["target_path", "target"],
        ["dest_path", "dest"],
    ],
)
def test_every_dest_key_is_judged(keys):
    ctx = call("copy_file", {key: f"/{key}" for key in keys})
    assert ctx.paths == tuple(f"/{key}" for key in keys)
    assert {item.role for item in ctx.judged} == {"dest"}
    assert ctx.resource.dest_path == f"/{keys[0]}"
    deny_last = {"id": "no-last", "effect": "deny", "conditions": {"path_pattern": f"/{keys[-1]}"}}
    assert verdict(engine(ALLOW_ALL, deny_last).evaluate(ctx)) == ("deny", "no-last")


@pytest.mark.parametrize(
    "keys",
    [
        ["filename", "file", "filepath", "file_path", "path"],
        ["file", "file_path"],
        ["filename", "file"],
        ["sourcePath", "destinationPath"],
        ["input-file", "output_dir"],
        ["directory", "cwd", "folders"],
    ],
)
def test_every_path_key_is_judged(keys):
    ctx = call("read_file", {key: f"/{key}" for key in keys})
    assert ctx.paths == tuple(f"/{key}" for key in keys)
    assert ctx.resource.path == f"/{keys[0]}"
    deny_last = {"id": "no-last", "effect": "deny", "conditions": {"path_pattern": f"/{keys[-1]}"}}
    assert verdict(engine(ALLOW_ALL, deny_last).evaluate(ctx)) == ("deny", "no-last")


def test_shown_path_is_the_first_written():
    """resource.path shows the first path argument (its lexical, absolute reading); source and
    destination come from keys whose first word says so."""
    ctx = call("x", {"destination": "/d", "source": "/s/./a", "path": "/p"})
    assert (ctx.resource.path, ctx.resource.source_path, ctx.resource.dest_path) == ("/d", "/s/a", "/d")
    assert ctx.paths == ("/d", "/s/./a", "/p")
    assert [item.role for item in ctx.judged] == ["dest", "source", "path"]
    assert call("x", {"path": "/p", "destination": "/d"}).resource.path == "/p"
    assert call("x", {}).resource.path is None and call("x", {}).judged == ()


def test_shown_path_prefers_a_path_argument_over_free_text():
    ctx = call("write_file", {"content": "/etc/motd", "path": "/p/a.md"})
    assert ctx.paths == ("/etc/motd", "/p/a.md") and ctx.resource.path == "/p/a.md"
    assert [item.role for item in ctx.judged] == ["other", "path"]


def test_every_string_at_any_depth_and_type_is_judged():
    """Empty strings, nested lists and dicts, other types: nothing hides a path."""
    arguments = {
        "source": "",
        "src": None,
        "from": ["/list"],
        "from_path": 5,
        "origin": "/o",
        "path": {"nested": "/n"},
        "file_path": "/fp",
        "uri": "/u",
        "_meta": {"path": "/meta"},
    }
    ctx = call("copy_file", arguments)
    assert ctx.paths == ("/list", "/o", "/n", "/fp", "/u")  # "" under `source` is no path without roots
    assert ctx.resource.source_path == "/list" and ctx.resource.path == "/list"
    for denied in ctx.paths:
        deny = {"id": "d", "effect": "deny", "conditions": {"path_pattern": denied}}
        assert verdict(engine(ALLOW_ALL, deny).evaluate(ctx)) == ("deny", "d"), denied
    deny_meta = {"id": "d", "effect": "deny", "conditions": {"path_pattern": "/meta"}}
    assert verdict(engine(ALLOW_ALL, deny_meta).evaluate(ctx)) == ("allow", "allow-all")  # _meta is not the server's


def test_empty_string_under_a_path_key_is_the_servers_root():
    """A server reads `path: ""` as its root: judged against the roots, refused without them."""
    assert verdict(engine(ALLOW_ALL).evaluate(call("list_directory", {"path": ""}))) == ("deny", "unjudgeable_path")
    ctx = call("list_directory", {"path": ""}, roots=("/srv/data",))
    assert ctx.resource.path == "/srv/data" and verdict(engine(ALLOW_ALL).evaluate(ctx)) == ("allow", "allow-all")


def test_file_uri_argument_is_a_tool_path():
    """A `file:` URI in a tool's arguments is judged by its path; another scheme is no path."""
    ctx = call("read_resource", {"uri": "file:///etc/passwd"})
    assert ctx.resource.path == "/etc/passwd" and ctx.resource.scheme is None
    deny = {"id": "no-etc", "effect": "deny", "conditions": {"path_pattern": "/etc/**"}}
    assert verdict(engine(ALLOW_ALL, deny).evaluate(ctx)) == ("deny", "no-etc")
    for uri in ("https://example.com/etc/passwd", "mailto:a@b.c", "s3://bucket/etc/passwd"):
        assert call("read_resource", {"uri": uri}).judged == (), uri


@pytest.mark.parametrize(
    "written,normal",
    [
        ("/a/./b/../c//d/", "/a/c/d"),
        ("/a/b/..", "/a"),
        ("/../x", "/x"),
        ("//a/b", "/a/b"),
    ],
)
def test_absolute_paths_are_shown_normpathed(written, normal):
    """The shown path is the lexical reading: `.` and `..` collapsed, no link followed."""
    assert call("read_file", {"path": written}).resource.path == normal


def test_tilde_is_expanded_for_judging(monkeypatch):
    monkeypatch.setenv("HOME", "/home/u")
    assert call("read_file", {"path": "~/x/../y"}).resource.path == "/home/u/y"


@pytest.mark.parametrize(
    "written,normal",
    [
        ("a/../../b", "/b"),
        ("./x", "/srv/x"),
        ("x", "/srv/x"),
        ("sub/../y.md", "/srv/y.md"),
        ("", "/srv"),
    ],
)
def test_relative_paths_are_judged_against_the_servers_root(written, normal):
    ctx = call("read_file", {"path": written}, roots=("/srv",))
    assert ctx.resource.path == normal and ctx.judged[0].written == written


@pytest.mark.parametrize("written", ["a/../../b", "./x", "x", "notes/a.txt", ".", ""])
def test_relative_paths_without_roots_are_refused(written):
    """A server reads `notes/a.txt` against its own root, not the proxy's working folder: with no
    known root it cannot be judged, so the request is refused and the reason says how to fix it."""
    ctx = call("read_file", {"path": written})
    assert ctx.resource.path is None
    decision = engine(ALLOW_ALL).evaluate(ctx)
    assert verdict(decision) == ("deny", "unjudgeable_path") and "roots" in decision.reason


def test_relative_path_is_judged_against_every_root():
    """Each root is a place the server may resolve it: the strictest outcome wins."""
    rules = [
        {"id": "a", "effect": "allow", "conditions": {"path_pattern": "/a/**"}},
        {"id": "b", "effect": "allow", "conditions": {"path_pattern": "/b/**"}},
        {"id": "ask-b", "effect": "hitl", "conditions": {"path_pattern": "/b/secret/**"}},
    ]
    assert verdict(engine(*rules).evaluate(call("read_file", {"path": "x"}, roots=("/a", "/b")))) == ("allow", "a")
    assert verdict(engine(rules[0]).evaluate(call("read_file", {"path": "x"}, roots=("/a", "/b")))) == (
        "deny",
        "default",
    )
    assert verdict(engine(*rules).evaluate(call("read_file", {"path": "secret/k"}, roots=("/a", "/b")))) == (
        "hitl",
        "ask-b",
    )


def test_ambiguous_keys_count_as_paths_once_roots_are_known():
    """`to: "bob"` is an e-mail address without roots, a file once the server has a root."""
    assert call("send", {"to": "bob", "subject": "hi"}).judged == ()
    ctx = call("send", {"to": "bob", "subject": "hi"}, roots=("/srv",))
    assert ctx.paths == ("bob",) and ctx.resource.dest_path == "/srv/bob"
    assert call("send", {"to": "bob@example.com", "subject": "hi"}, roots=("/srv",)).paths == ("bob@example.com",)
    assert call("send", {"subject": "hi"}, roots=("/srv",)).judged == ()  # an ordinary key stays free text


@pytest.mark.parametrize(
    "uri,scheme,path,extension",
    [
        ("file:///home/u/a.md", "file", "/home/u/a.md", ".md"),
        ("file:///home/u/read%20me.MD", "file", "/home/u/read me.MD", ".MD"),
        ("file:///home/u/x/..%2F..%2Fetc/passwd", "file", "/home/etc/passwd", None),
        ("file:///home/u/./x/../a.txt", "file", "/home/u/a.txt", ".txt"),
        ("file://localhost/srv/a.txt", "file", "/srv/a.txt", ".txt"),
        ("FILE:///a/b.txt", "file", "/a/b.txt", ".txt"),
        ("https://example.com/a/b.md", "https", None, None),
        ("db://table/x", "db", None, None),
        ("not a uri", None, None, None),
    ],
)
def test_resource_uri_extraction(uri, scheme, path, extension):
    """file:// URIs give a (percent-decoded, normpathed) path; other schemes give none."""
    ctx = read(uri)
    assert (ctx.resource.uri, ctx.resource.scheme, ctx.resource.path, ctx.resource.extension) == (
        uri,
        scheme,
        path,
        extension,
    )


def test_resource_request_judges_its_uri_and_arguments():
    ctx = context("resources/read", {"uri": "file:///a/./b.md", "arguments": {"path": "/c/d.md"}})
    assert ctx.paths == ("file:///a/./b.md", "/c/d.md") and ctx.resource.path == "/a/b.md"
    assert context("resources/read", {"uri": "https://x/a.md", "arguments": {"to": "/c"}}).paths == ("/c",)


@pytest.mark.parametrize(
    "method,params,paths",
    [
        ("prompts/get", {"name": "p", "arguments": {"file": "/a/b"}}, ("/a/b",)),
        (
            "completion/complete",
            {
                "ref": {"type": "ref/prompt", "name": "p"},
                "argument": {"name": "path", "value": "/x"},
                "context": {"arguments": {"dir": "/y"}},
            },
            ("/x", "/y"),
        ),
        ("completion/complete", {"argument": {"name": "query", "value": "free text"}}, ()),
        ("logging/setLevel", {"level": "info", "_meta": {"path": "/m"}}, ()),
        ("sampling/createMessage", {"messages": [{"file": "/s"}]}, ("/s",)),
    ],
)
def test_paths_of_other_methods(method, params, paths):
    assert context(method, params).paths == paths


@pytest.mark.parametrize(
    "method,kind",
    [
        ("tools/call", "tool"),
        ("resources/read", "resource"),
        ("resources/list", "resource"),
        ("resources/subscribe", "resource"),
        ("resources/templates/list", "resource"),
        ("prompts/get", "prompt"),
        ("prompts/list", "prompt"),
        ("initialize", "server"),
        ("ping", "server"),
        ("completion/complete", "server"),
        ("logging/setLevel", "server"),
        ("tools/list", "server"),
    ],
)
def test_resource_type_per_method(method, kind):
    assert context(method).resource.type == kind


@pytest.mark.parametrize(
    "method,intent,category",
    [
        ("resources/read", "read", "action"),
        ("tools/call", None, "action"),
        ("prompts/get", None, "action"),
        ("resources/list", None, "discovery"),
        ("initialize", None, "discovery"),
        ("resources/subscribe", None, "action"),
    ],
)
def test_action_intent_and_category(method, intent, category):
    """Only resources/read declares a read intent; a tool call never does, whatever its name."""
    action = context(method).action
    assert (action.mcp_method, action.name, action.intent, action.category) == (
        method,
        method.replace("/", "."),
        intent,
        category,
    )


def test_subject_server_and_environment_fields():
    claims = {"iss": "https://idp", "aud": "mcp-acp", "azp": "cli", "scope": "openid email"}
    ctx = call(
        "read_file",
        {},
        subject="auth0|alice",
        server="docs-main",
        claims=claims,
        session_id="s1",
        proxy_name="p1",
        client_info={"name": "claude", "version": "1.2"},
    )
    assert (ctx.subject.id, ctx.subject.issuer, ctx.subject.audience, ctx.subject.client_id, ctx.subject.scopes) == (
        "auth0|alice",
        "https://idp",
        ("mcp-acp",),
        "cli",
        frozenset({"openid", "email"}),
    )
    assert ctx.resource.server_id == "docs-main" and ctx.resource.tool_name == "read_file"
    assert ctx.resource.side_effects == frozenset({"fs_read"}) and ctx.resource.operation == "read"
    env = ctx.environment
    assert (env.request_id, env.session_id, env.proxy_instance, env.mcp_client_name, env.mcp_client_version) == (
        "7",
        "s1",
        "p1",
        "claude",
        "1.2",
    )
    assert env.timestamp.tzinfo is not None


def test_malformed_params_do_not_crash_extraction():
    """Whatever a client sends, the context builds and the engine denies by default."""
    for params in ({"name": 5, "arguments": "x"}, {"name": "read_file", "arguments": ["/a"]}, {"uri": 5}):
        decision = engine(ALLOW_ALL).evaluate(context("tools/call", params))
        assert decision.effect in ("allow", "deny")
    ctx = build_context({"method": "tools/call", "params": "oops"}, Identity("a", "local"), "s")
    assert ctx.resource.tool_name is None and engine(ALLOW_ALL).evaluate(ctx).effect == "deny"


def test_rules_see_the_extracted_attributes():
    """End to end: a rule keyed on from / to matches what extraction produced; a path_pattern
    must then cover every path of the request (the destination too), not only the first."""
    rule = {"id": "r", "effect": "allow", "conditions": {"source_path": "/in/**", "dest_path": "/out/**"}}
    assert engine(rule).evaluate(call("copy_file", {"from": "/in/a", "to": "/out/a"})).effect == "allow"
    assert engine(rule).evaluate(call("copy_file", {"from": "/in/a", "to": "/x"})).effect == "deny"
    narrow = dict(rule, conditions={**rule["conditions"], "path_pattern": "/in/**"})
    assert engine(narrow).evaluate(call("copy_file", {"from": "/in/a", "to": "/out/a"})).effect == "deny"
    both = dict(rule, conditions={**rule["conditions"], "path_pattern": ["/in/**", "/out/**"]})
    assert engine(both).evaluate(call("copy_file", {"from": "/in/a", "to": "/out/a"})).effect == "allow"
    assert (
        engine(both).evaluate(call("copy_file", {"file_path": "/etc/x", "from": "/in/a", "to": "/out/a"})).effect
        == "deny"
    )


def test_a_second_source_argument_is_judged_as_a_source():
    """A server may read `src` rather than `source`: an allow on source_path must cover both."""
    rule = {"id": "copy", "effect": "allow", "conditions": {"source_path": "/in/**", "dest_path": "/out/**"}}
    request = call("copy_file", {"source": "/in/a", "src": "/etc/shadow", "destination": "/out/a"})
    assert verdict(engine(rule).evaluate(request)) == ("deny", "default")
