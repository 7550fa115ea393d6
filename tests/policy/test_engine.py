"""The policy decision point (docs/policies.md#how-a-request-is-decided, docs/policies.md#worked-examples, docs/policies.md#the-decision-context).

Each test builds a real policy with parse_policy, a real DecisionContext with build_context
from a JSON-RPC message, and asks PolicyEngine.evaluate. Paths that must really exist
(symlinks, protected folders) live under tmp_path.
"""

from __future__ import annotations

import itertools
import os
import unicodedata
from pathlib import Path

import pytest

from mcp_acp.identity.local import Identity
from mcp_acp.policy.context import DISCOVERY_METHODS, build_context
from mcp_acp.policy.engine import Decision, PolicyEngine, compile_rule
from mcp_acp.policy.model import parse_policy
from mcp_acp.policy.protected import ProtectedPaths
from mcp_acp.policy.side_effects import side_effects_of

ALLOW_ALL = {"id": "allow-all", "effect": "allow", "conditions": {"tool_name": "*"}}


def engine(*rules: dict, protected=()) -> PolicyEngine:
    return PolicyEngine(parse_policy({"rules": list(rules)}), ProtectedPaths(protected))


def message(method: str, params: dict | None = None) -> dict:
    return {"jsonrpc": "2.0", "id": 7, "method": method, "params": params or {}}


def context(method: str, params: dict | None = None, subject: str = "alice", server: str = "srv", **extra):
    return build_context(message(method, params), Identity(subject, "local", extra.pop("claims", {})), server, **extra)


def call(tool: str, arguments: dict | None = None, **kw):
    return context("tools/call", {"name": tool, "arguments": arguments or {}}, **kw)


def read(uri: str, **kw):
    return context("resources/read", {"uri": uri}, **kw)


def verdict(decision: Decision) -> tuple[str, str]:
    return decision.effect, decision.final_rule


def specificity(conditions: dict) -> int:
    rule = parse_policy({"rules": [{"effect": "allow", "conditions": conditions}]}).rules[0]
    return compile_rule(0, rule).specificity


# ================================================================ 1. zero-trust default


@pytest.mark.parametrize("document", [{}, {"rules": []}, {"version": "1", "default_action": "deny"}])
def test_empty_policy_denies_tool_calls(document):
    """Zero trust: with no rules a tool call is denied by the default."""
    decision = PolicyEngine(parse_policy(document), ProtectedPaths([])).evaluate(call("read_file", {"path": "/a"}))
    assert verdict(decision) == ("deny", "default")
    assert decision.matched_rules == () and decision.rule is None


@pytest.mark.parametrize("method", sorted(DISCOVERY_METHODS))
def test_empty_policy_still_lets_clients_discover(method):
    """initialize, server/discover, tools/list, … bypass the rules, else no client could even
    connect; a task's follow-up was decided when its call created the task."""
    expected = "task_follow_up" if method.startswith("tasks/") else "discovery_bypass"
    assert verdict(engine().evaluate(context(method))) == ("allow", expected)


def test_discovery_list_is_the_spec_list():
    """prompts/get and resources/read are actions, not discovery (they return content); the
    server's notifications are not the client's to send."""
    assert {
        "initialize",
        "ping",
        "server/discover",
        "logging/setLevel",
        "tools/list",
        "resources/list",
        "resources/templates/list",
        "prompts/list",
        "tasks/get",
        "tasks/list",
        "tasks/result",
        "tasks/cancel",
        "tasks/update",
        "notifications/initialized",
        "notifications/cancelled",
        "notifications/progress",
        "notifications/roots/list_changed",
        "notifications/tasks/status",
    } == DISCOVERY_METHODS


@pytest.mark.parametrize(
    "method,params",
    [
        ("resources/read", {"uri": "file:///etc/hosts"}),
        ("prompts/get", {"name": "p"}),
        ("resources/subscribe", {"uri": "file:///x"}),
        ("completion/complete", {}),
        ("tools/call", {}),
        ("sampling/createMessage", {}),
        ("", {}),
    ],
)
def test_empty_policy_denies_every_action(method, params):
    assert verdict(engine().evaluate(context(method, params))) == ("deny", "default")


def test_discovery_bypass_ignores_deny_rules():
    """A deny-everything rule on mcp_method "*" must not break the handshake."""
    deny_all = {"id": "deny-all", "effect": "deny", "conditions": {"mcp_method": "*"}}
    assert verdict(engine(deny_all).evaluate(context("initialize"))) == ("allow", "discovery_bypass")
    assert verdict(engine(deny_all).evaluate(context("prompts/get"))) == ("deny", "deny-all")


# ================================================================ 2. HITL > DENY > ALLOW

CO_MATCHING = {
    "allow": {"id": "A", "effect": "allow", "conditions": {"tool_name": "read_file"}},
    "deny": {"id": "D", "effect": "deny", "conditions": {"path_pattern": "/secret/**"}},
    "hitl": {"id": "H", "effect": "hitl", "conditions": {"extension": ".txt"}},
}


@pytest.mark.parametrize(
    "effects,expected",
    [
        (("allow",), "allow"),
        (("deny",), "deny"),
        (("hitl",), "hitl"),
        (("allow", "deny"), "deny"),
        (("allow", "hitl"), "hitl"),
        (("deny", "hitl"), "hitl"),
        (("allow", "deny", "hitl"), "hitl"),
    ],
)
def test_most_restrictive_effect_wins_in_any_order(effects, expected):
    """Deny beats allow, HITL beats deny (deliberately), whatever the order in the file."""
    request = call("read_file", {"path": "/secret/a.txt"})
    for order in itertools.permutations(effects):
        decision = engine(*(CO_MATCHING[e] for e in order)).evaluate(request)
        assert decision.effect == expected, order
        assert {m.id for m in decision.matched_rules} == {CO_MATCHING[e]["id"] for e in effects}


def test_rules_that_do_not_match_do_not_take_part():
    """Only co-matching rules combine: a non-matching deny does not veto a matching allow."""
    decision = engine(CO_MATCHING["allow"], CO_MATCHING["deny"]).evaluate(call("read_file", {"path": "/public/a"}))
    assert verdict(decision) == ("allow", "A")
    assert [m.id for m in decision.matched_rules] == ["A"]


def test_matched_rules_listed_in_file_order_with_descriptions():
    rules = [dict(CO_MATCHING["hitl"], description="ask"), dict(CO_MATCHING["allow"], description="ok")]
    decision = engine(*rules).evaluate(call("read_file", {"path": "/x/a.txt"}))
    assert [(m.id, m.effect, m.description) for m in decision.matched_rules] == [
        ("H", "hitl", "ask"),
        ("A", "allow", "ok"),
    ]


# ================================================================ 3. final_rule


def test_final_rule_is_the_most_specific_rule_of_the_winning_effect():
    """A very specific losing-effect rule must not be named as the reason."""
    rules = [
        {
            "id": "allow-specific",
            "effect": "allow",
            "conditions": {"tool_name": "read_file", "path_pattern": "/p/a/b/c.txt", "subject_id": "alice"},
        },
        {"id": "deny-broad", "effect": "deny", "conditions": {"tool_name": "read_*"}},
        {"id": "deny-narrower", "effect": "deny", "conditions": {"tool_name": "read_*", "extension": ".txt"}},
        {"id": "deny-mid", "effect": "deny", "conditions": {"tool_name": "read_file"}},
    ]
    decision = engine(*rules).evaluate(call("read_file", {"path": "/p/a/b/c.txt"}))
    assert verdict(decision) == ("deny", "deny-narrower")
    assert decision.rule.id == "deny-narrower" and decision.rule.specificity == 200


def test_final_rule_tie_goes_to_the_first_rule_in_the_file():
    """Equal specificity ⇒ earliest rule, so logs are stable across evaluations."""
    first = {"id": "first", "effect": "deny", "conditions": {"tool_name": "read_*"}}
    second = {"id": "second", "effect": "deny", "conditions": {"tool_name": "*_file"}}
    request = call("read_file")
    assert engine(first, second).evaluate(request).final_rule == "first"
    assert engine(second, first).evaluate(request).final_rule == "second"


def test_specificity_never_changes_the_decision():
    """A precise allow does not override a vague deny."""
    precise_allow = {
        "id": "precise",
        "effect": "allow",
        "conditions": {
            "tool_name": "read_file",
            "path_pattern": "/p/a/b/c/d/e.txt",
            "subject_id": "alice",
            "extension": ".txt",
        },
    }
    vague_deny = {"id": "vague", "effect": "deny", "conditions": {"tool_name": "*"}}
    assert verdict(engine(precise_allow, vague_deny).evaluate(call("read_file", {"path": "/p/a/b/c/d/e.txt"}))) == (
        "deny",
        "vague",
    )


def test_final_rule_carries_cache_side_effects_of_the_winning_hitl_rule():
    """The HITL cache policy is read off the final rule: it must be the right one."""
    rules = [
        {"id": "broad", "effect": "hitl", "conditions": {"tool_name": "*"}},
        {
            "id": "write-proj",
            "effect": "hitl",
            "conditions": {"tool_name": "write_file", "path_pattern": "/p/**"},
            "cache_side_effects": ["fs_write"],
        },
    ]
    decision = engine(*rules).evaluate(call("write_file", {"path": "/p/x"}))
    assert decision.final_rule == "write-proj"
    assert decision.rule.cache_side_effects == frozenset({"fs_write"})
    assert engine(rules[0]).evaluate(call("write_file", {"path": "/p/x"})).rule.cache_side_effects is None


# ================================================================ 4. specificity numbers


@pytest.mark.parametrize(
    "conditions,score",
    [
        ({"tool_name": "read*"}, 100),
        ({"tool_name": "read_file"}, 110),
        ({"tool_name": "read_fil?"}, 100),
        ({"tool_name": "read*", "extension": ".py"}, 200),
        ({"tool_name": "read*", "path_pattern": "/a/b/c/**"}, 203),
        ({"tool_name": ["read_file", "write_file"]}, 110),  # a list counts once
        ({"tool_name": ["read_file", "write_*"]}, 100),  # any wildcard ⇒ no exact bonus
        ({"path_pattern": "/a/b/c"}, 113),
        ({"path_pattern": "/a/b/c/"}, 113),  # trailing slash ignored
        ({"path_pattern": "**/.env"}, 100),
        ({"path_pattern": "/a/b*/c"}, 101),
        ({"path_pattern": "/a/?/c/**"}, 101),
        ({"path_pattern": ["/a/**", "/a/b/c/d/*"]}, 104),  # depth = max over the list
        ({"path_pattern": ["/a/b/c", "/x/**"]}, 103),  # one wildcard element ⇒ no exact bonus
        ({"source_path": "/data/inbox/**", "dest_path": "/srv/in/**"}, 204),
        ({"operations": ["read", "write"]}, 100),
        ({"side_effects": ["code_exec", "fs_write"]}, 100),
        ({"extension": [".md", ".txt"]}, 100),
        ({"scheme": "file"}, 100),
        ({"backend_id": "docs-*"}, 100),
        ({"backend_id": "docs"}, 110),
        ({"mcp_method": "prompts/get"}, 110),
        ({"mcp_method": "prompts/*"}, 100),
        ({"resource_type": "resource"}, 110),
        ({"subject_id": "auth0|alice"}, 110),
        ({"subject_id": ["alice", "bob"]}, 110),
        (
            {
                "subject_id": "auth0|alice",
                "tool_name": "copy_*",
                "source_path": "/data/inbox/**",
                "dest_path": "/srv/in/**",
            },
            414,
        ),
    ],
)
def test_specificity_scores(conditions, score):
    """Scoring drift would silently change which rule appears in logs and HITL dialogs."""
    assert specificity(conditions) == score


@pytest.mark.parametrize("condition", ["source_path", "dest_path"])
def test_source_and_dest_use_path_globs(condition):
    rule = {"id": "r", "effect": "allow", "conditions": {condition: "/in/*"}}
    key = "source" if condition == "source_path" else "destination"
    assert engine(rule).evaluate(call("move_file", {key: "/in/a"})).effect == "allow"
    assert engine(rule).evaluate(call("move_file", {key: "/in/a/b"})).effect == "deny"
    assert engine(rule).evaluate(call("move_file", {key: "/IN/a"})).effect == "deny"


def test_path_pattern_list_matches_any_element():
    rule = {"id": "r", "effect": "allow", "conditions": {"path_pattern": ["/a/**", "/b/*.md"]}}
    assert engine(rule).evaluate(call("read_file", {"path": "/b/x.md"})).effect == "allow"
    assert engine(rule).evaluate(call("read_file", {"path": "/a/q/r"})).effect == "allow"
    assert engine(rule).evaluate(call("read_file", {"path": "/c/x.md"})).effect == "deny"


# ================================================================ 6. names, subjects, empty lists, absent attributes


@pytest.mark.parametrize(
    "pattern,tool,matches",
    [
        ("read_file", "READ_FILE", True),
        ("READ_*", "read_file", True),
        ("Read_F?le", "rEaD_fIlE", True),
        ("read_*", "xread_file", False),
        ("*_file", "read_file", True),
        ("read_file", "read_file2", False),
        ("read?file", "read_file", True),
        ("read.file", "read_file", False),
        ("*", "anything", True),
    ],
)
def test_tool_name_glob_is_case_insensitive_and_anchored(pattern, tool, matches):
    """`READ_FILE` from a backend must not dodge a rule written as `read_file`."""
    rule = {"id": "r", "effect": "deny", "conditions": {"tool_name": pattern}}
    assert engine(ALLOW_ALL, rule).evaluate(call(tool)).effect == ("deny" if matches else "allow")


@pytest.mark.parametrize(
    "rule_subject,user,matches",
    [
        ("auth0|alice", "auth0|alice", True),
        ("auth0|alice", "auth0|Alice", False),
        ("auth0|alice", "AUTH0|ALICE", False),
        ("auth0|*", "auth0|alice", False),  # no globbing
        ("alice", "alice ", False),
        ("alice", "alic", False),
        (["bob", "alice"], "alice", True),
    ],
)
def test_subject_id_is_exact_and_case_sensitive(rule_subject, user, matches):
    """`Alice` is a different OIDC subject than `alice`: no privilege by look-alike."""
    rule = {"id": "r", "effect": "allow", "conditions": {"subject_id": rule_subject}}
    assert engine(rule).evaluate(call("read_file", subject=user)).effect == ("allow" if matches else "deny")


@pytest.mark.parametrize(
    "condition,value,request_kw,matches",
    [
        ("backend_id", "docs-*", {"server": "DOCS-main"}, True),
        ("backend_id", "docs-*", {"server": "mydocs-main"}, False),
        ("backend_id", "docs", {"server": "Docs"}, True),
        ("mcp_method", "tools/call", {}, True),
        ("mcp_method", "tools/*", {}, True),
        ("mcp_method", "Tools/call", {}, False),  # methods are case-sensitive
        ("mcp_method", "tools/cal?", {}, True),
    ],
)
def test_backend_and_method_globs(condition, value, request_kw, matches):
    rule = {"id": "r", "effect": "allow", "conditions": {condition: value}}
    assert engine(rule).evaluate(call("read_file", **request_kw)).effect == ("allow" if matches else "deny")


@pytest.mark.parametrize(
    "condition,value",
    [
        ("extension", ".PY"),
        ("extension", ".py"),
        ("extension", [".md", ".Py"]),
    ],
)
def test_extension_is_exact_and_case_insensitive(condition, value):
    rule = {"id": "r", "effect": "allow", "conditions": {condition: value}}
    assert engine(rule).evaluate(call("read_file", {"path": "/x/a.pY"})).effect == "allow"
    assert engine(rule).evaluate(call("read_file", {"path": "/x/a.pyc"})).effect == "deny"
    assert engine(rule).evaluate(call("read_file", {"path": "/x/py"})).effect == "deny"


def test_scheme_is_exact_and_case_insensitive():
    rule = {"id": "r", "effect": "allow", "conditions": {"scheme": "FILE"}}
    assert engine(rule).evaluate(read("file:///x/a.md")).effect == "allow"
    assert engine(rule).evaluate(read("FILE:///x/a.md")).effect == "allow"
    assert engine(rule).evaluate(read("files:///x/a.md")).effect == "deny"


@pytest.mark.parametrize(
    "condition",
    [
        "tool_name",
        "path_pattern",
        "source_path",
        "dest_path",
        "operations",
        "extension",
        "scheme",
        "backend_id",
        "mcp_method",
        "subject_id",
        "side_effects",
    ],
)
def test_empty_list_never_matches(condition):
    """`"subject_id": []` must not mean "anyone" (a deny with it must not fire, an allow neither)."""
    request = call("write_file", {"path": "/p/a.py", "source": "/p/a.py", "destination": "/p/b.py"})
    allow_empty = {"id": "empty", "effect": "allow", "conditions": {condition: []}}
    assert verdict(engine(allow_empty).evaluate(request)) == ("deny", "default")
    deny_empty = {"id": "empty", "effect": "deny", "conditions": {"mcp_method": "*", condition: []}}
    assert verdict(engine(ALLOW_ALL, deny_empty).evaluate(request)) == ("allow", "allow-all")


@pytest.mark.parametrize(
    "conditions,request_ctx",
    [
        ({"path_pattern": "**"}, lambda: call("read_file", {})),
        ({"path_pattern": "/**"}, lambda: call("read_file", {"content": "not a path, just text"})),
        ({"source_path": "**"}, lambda: call("read_file", {"path": "/a"})),
        ({"dest_path": "**"}, lambda: call("move_file", {"source": "/a"})),
        ({"extension": [".py", ".md"]}, lambda: call("read_file", {"path": "/a/Makefile"})),
        ({"scheme": "file"}, lambda: call("read_file", {"path": "/a"})),
        ({"scheme": "file"}, lambda: read("no-scheme-here")),
        ({"tool_name": "*"}, lambda: read("file:///a")),
        ({"tool_name": "*"}, lambda: context("tools/call", {"arguments": {}})),
        ({"operations": ["read", "write", "delete"]}, lambda: read("file:///a")),
        ({"side_effects": ["fs_read"]}, lambda: context("prompts/get", {"name": "read_file"})),
        ({"path_pattern": "**"}, lambda: read("https://example.com/a/b")),
    ],
)
def test_condition_on_absent_attribute_never_matches(conditions, request_ctx):
    """A deny on `extension` must not fire for a file without one — and an allow neither."""
    request = request_ctx()
    allow = {"id": "r", "effect": "allow", "conditions": conditions}
    assert verdict(engine(allow).evaluate(request)) == ("deny", "default")


@pytest.mark.parametrize(
    "tool,operations,matches",
    [
        ("read_file", ["read"], True),
        ("write_file", ["read"], False),
        ("write_file", ["write", "delete"], True),
        ("write_then_delete", ["write"], False),
        ("write_then_delete", ["delete"], True),
        ("delete_read_marker", ["delete"], False),
        ("delete_read_marker", ["read"], True),
        ("frobnicate", ["read", "write", "delete"], False),
        ("copy_file", ["read", "write", "delete"], False),
    ],
)
def test_operations_condition(tool, operations, matches):
    """Unknown tools never match an operations rule, in either direction."""
    rule = {"id": "r", "effect": "allow", "conditions": {"operations": operations}}
    assert engine(rule).evaluate(call(tool)).effect == ("allow" if matches else "deny")
    deny = {"id": "d", "effect": "deny", "conditions": {"operations": operations}}
    assert engine(ALLOW_ALL, deny).evaluate(call(tool)).effect == ("deny" if matches else "allow")


@pytest.mark.parametrize(
    "tool,wanted,matches",
    [
        ("bash", ["code_exec", "sudo_elevate"], True),  # any overlap is enough
        ("bash", ["network_egress"], True),
        ("edit_file", ["fs_read"], True),
        ("write_file", ["email_send", "fs_write"], True),
        ("read_file", ["code_exec", "sudo_elevate"], False),
        ("echo", ["code_exec", "fs_read", "fs_write"], False),  # known to have no side effects
        ("my_custom_exec", ["code_exec"], False),  # unknown tool: no match
        ("run_it", ["code_exec", "fs_read", "fs_write", "network_egress", "process_spawn"], False),
    ],
)
def test_side_effects_condition_any_semantics(tool, wanted, matches):
    rule = {"id": "block", "effect": "deny", "conditions": {"side_effects": wanted}}
    assert engine(ALLOW_ALL, rule).evaluate(call(tool)).effect == ("deny" if matches else "allow")


# ================================================================ 10. protected folders


@pytest.fixture
def guarded(tmp_path: Path):
    """A config dir and a log dir under tmp_path, with symlinks into them and a HOME beside them."""
    home = tmp_path / "home"
    config = home / ".config" / "mcp-acp"
    logs = tmp_path / "logs" / "mcp-acp"
    for folder in (config / "proxies", logs / "proxies", home / "proj", tmp_path / "config2"):
        folder.mkdir(parents=True)
    (config / "policy.json").write_text("{}")
    (tmp_path / "to-config").symlink_to(config)
    (tmp_path / "to-dot-config").symlink_to(config.parent)
    (home / "proj" / "to-logs").symlink_to(logs / "proxies")
    return {
        "tmp": tmp_path,
        "home": home,
        "config": config,
        "logs": logs,
        "engine": engine(
            ALLOW_ALL,
            {"id": "res", "effect": "allow", "conditions": {"resource_type": "resource"}},
            protected=[config, logs],
        ),
    }


def assert_protected(decision: Decision) -> None:
    assert verdict(decision) == ("deny", "built_in_protected_path")
    assert decision.reason and "configuration or log" in decision.reason


@pytest.mark.parametrize("tool", ["read_file", "write_file", "delete_file", "edit_file", "frobnicate", "bash"])
@pytest.mark.parametrize(
    "written",
    [
        "{config}",
        "{config}/policy.json",
        "{config}/proxies/p/config.json",
        "{logs}/proxies/p/audit.jsonl",
        "{logs}",
        "{config}/",
        "{config}/./policy.json",
        "{home}/proj/../.config/mcp-acp/policy.json",
        "{tmp}/to-config/policy.json",
        "{tmp}/to-config",
        "{tmp}/to-dot-config/mcp-acp/policy.json",
        "{home}/proj/to-logs/p/audit.jsonl",
        "{home}/proj/to-logs/../../mcp-acp/x",
        "/{config}/policy.json",
        "{config}//policy.json",
        "~/.config/mcp-acp/policy.json",
        "~/proj/../.config/mcp-acp",
        "{config}/does/not/exist/yet",
    ],
)
def test_protected_folders_are_denied_whatever_the_spelling(guarded, monkeypatch, tool, written):
    """A backend must not read or rewrite the proxy's policy or its logs via symlinks, `..`, `~`, `//`."""
    monkeypatch.setenv("HOME", str(guarded["home"]))
    path = written.format(**{k: v for k, v in guarded.items() if k != "engine"})
    assert_protected(guarded["engine"].evaluate(call(tool, {"path": path})))


@pytest.mark.parametrize(
    "arguments",
    [
        {"source": "{config}/policy.json", "destination": "{tmp}/stolen.json"},
        {"source": "{tmp}/evil.json", "destination": "{config}/policy.json"},
        {"from": "{tmp}/evil.json", "to": "{tmp}/to-config/policy.json"},
        {"path": "{tmp}/harmless", "target_path": "{logs}/audit.jsonl"},
        {"paths": ["{tmp}/a.txt", "{config}/policy.json"]},
        {"files": [{"path": "{tmp}/a"}, {"path": "{tmp}/to-config/policy.json"}]},
        {"options": {"output": "{logs}/x"}},
    ],
)
def test_protected_check_covers_source_dest_and_any_path_argument(guarded, arguments):
    """docs/policies.md#protected-folders: the reference checked only `path`; move/copy and path lists must be checked too."""
    fill = {k: str(v) for k, v in guarded.items() if k != "engine"}
    filled = eval_template(arguments, fill)
    for tool in ("move_file", "copy_file", "read_multiple_files", "frobnicate"):
        assert_protected(guarded["engine"].evaluate(call(tool, filled)))


def eval_template(value, fill):
    if isinstance(value, str):
        return value.format(**fill)
    if isinstance(value, list):
        return [eval_template(v, fill) for v in value]
    return {k: eval_template(v, fill) for k, v in value.items()}


def test_protected_check_ignores_case_and_unicode_form(guarded):
    """On macOS `~/.CONFIG/MCP-ACP` and NFD spellings reach the same folder: deny them everywhere."""
    config = str(guarded["config"])
    for spelling in (config.upper(), config.replace("mcp-acp", "MCP-Acp") + "/policy.json"):
        assert_protected(guarded["engine"].evaluate(call("read_file", {"path": spelling})))
    accented = guarded["tmp"] / "Café"
    accented.mkdir()
    nfd = unicodedata.normalize("NFD", str(accented / "f"))
    assert nfd != str(accented / "f")
    check = engine(ALLOW_ALL, protected=[accented])
    assert_protected(check.evaluate(call("read_file", {"path": nfd})))
    assert_protected(check.evaluate(call("read_file", {"path": str(accented).upper()})))


def test_protected_check_on_resource_uris(guarded):
    """resources/read of file:// URIs into the config dir, percent-encoded or not."""
    config = str(guarded["config"])
    for uri in (
        f"file://{config}/policy.json",
        f"file://{config}/%70olicy.json",
        f"file://{guarded['tmp']}/x/%2E%2E/to-config/policy.json",
        f"FILE://{config}",
    ):
        assert_protected(guarded["engine"].evaluate(read(uri)))


@pytest.mark.parametrize(
    "tool",
    [
        "write_file",
        "delete_file",
        "delete_directory",
        "move_file",
        "edit_file",
        "bash",
        "create_directory",
        "frobnicate",
        "remove_item",
        "docker_exec",
    ],
)
@pytest.mark.parametrize("ancestor", ["{home}", "{home}/.config", "{tmp}", "/", "~", "{tmp}/to-dot-config"])
def test_modifying_an_ancestor_of_a_protected_folder_is_denied(guarded, monkeypatch, tool, ancestor):
    """Deleting or moving `~/.config` would take the policy with it."""
    monkeypatch.setenv("HOME", str(guarded["home"]))
    path = ancestor.format(**{k: v for k, v in guarded.items() if k != "engine"})
    assert_protected(guarded["engine"].evaluate(call(tool, {"path": path})))
    assert_protected(guarded["engine"].evaluate(call(tool, {"source": path, "destination": "/tmp/elsewhere"})))


def test_ancestor_rule_applies_to_the_requests_own_paths_only(guarded):
    """Content that merely mentions a parent folder (`/`, $HOME) must not block a write; only the
    path, source or destination the request modifies is refused for being an ancestor."""
    home = str(guarded["home"])
    for content in ("/", home, [home, "/"]):
        decision = guarded["engine"].evaluate(
            call("write_file", {"path": f"{guarded['tmp']}/notes.md", "content": content})
        )
        assert verdict(decision) == ("allow", "allow-all")
    assert_protected(guarded["engine"].evaluate(call("write_file", {"path": home, "content": "x"})))


@pytest.mark.parametrize(
    "tool", ["read_file", "list_directory", "search_files", "get_file_info", "fetch_url", "read_something_unknown"]
)
def test_reading_an_ancestor_is_allowed(guarded, tool):
    """Listing $HOME is fine: only modifying requests are refused on ancestors."""
    decision = guarded["engine"].evaluate(call(tool, {"path": str(guarded["home"])}))
    assert verdict(decision) == ("allow", "allow-all")
    assert verdict(guarded["engine"].evaluate(read(f"file://{guarded['home']}"))) == ("allow", "res")


@pytest.mark.parametrize(
    "written",
    [
        "{tmp}/config2/x",
        "{home}/.config/mcp-acp2/x",
        "{home}/.config/mcp-ac",
        "{home}/proj/mcp-acp/policy.json",
        "{logs}-old/x",
    ],
)
def test_neighbours_of_protected_folders_are_not_protected(guarded, written):
    """`mcp-acp2` is not inside `mcp-acp`: a prefix match without `/` would over-deny."""
    path = written.format(**{k: v for k, v in guarded.items() if k != "engine"})
    assert verdict(guarded["engine"].evaluate(call("write_file", {"path": path}))) == ("allow", "allow-all")


def test_protected_paths_cannot_be_overridden_by_rules(guarded):
    """Explicit allow and hitl rules for the config dir still lose to the built-in deny."""
    config = guarded["config"]
    rules = [
        {"id": "allow-cfg", "effect": "allow", "conditions": {"path_pattern": f"{config}/**"}},
        {"id": "ask-cfg", "effect": "hitl", "conditions": {"path_pattern": f"{config}/**"}},
    ]
    assert_protected(engine(*rules, protected=[config]).evaluate(call("write_file", {"path": f"{config}/policy.json"})))


def test_protected_folders_are_resolved_once_at_start(guarded):
    """Configured through a symlink, the protected folder is still its real location."""
    check = engine(ALLOW_ALL, protected=[guarded["tmp"] / "to-config"])
    assert check.protected.folders == (os.path.realpath(guarded["config"]),)
    assert_protected(check.evaluate(call("read_file", {"path": str(guarded["config"] / "policy.json")})))


# ================================================================ 10b. protected-folder tricks


def test_resource_uri_with_symlink_then_dotdot_is_protected(guarded):
    """With x/up → ~/proj, `<tmp>/x/up/../.config/mcp-acp/policy.json` is the policy file on disk;
    resolving only its normpath (`<tmp>/x/.config/…`, harmless) would let resources/read through."""
    tmp, home = guarded["tmp"], guarded["home"]
    (tmp / "x").mkdir()
    (tmp / "x" / "up").symlink_to(home / "proj")
    sneaky = f"{tmp}/x/up/../.config/mcp-acp/policy.json"
    assert os.path.realpath(sneaky) == str(guarded["config"] / "policy.json")
    assert_protected(guarded["engine"].evaluate(call("read_file", {"path": sneaky})))
    assert_protected(guarded["engine"].evaluate(read(f"file://{sneaky}")))


def test_file_uri_in_tool_arguments_is_protected(guarded):
    """A tool argument `file:///…/mcp-acp/policy.json` must be checked by its path, not
    resolved as the relative path `<cwd>/file:/…`."""
    for uri in (
        f"file://{guarded['config']}/policy.json",
        f"file://{guarded['config']}/%70olicy.json",
        f"file://localhost{guarded['config']}",
    ):
        assert_protected(guarded["engine"].evaluate(call("read_resource", {"uri": uri})))
        assert_protected(guarded["engine"].evaluate(call("read_file", {"path": uri})))


def test_every_item_of_a_long_path_list_is_checked(guarded):
    """read_multiple_files with 257+ paths: a cap on checked items would let the last one through."""
    paths = [f"{guarded['tmp']}/f{i}" for i in range(1000)] + [f"{guarded['config']}/policy.json"]
    assert_protected(guarded["engine"].evaluate(call("read_multiple_files", {"paths": paths})))


def test_overlong_path_strings_are_refused(guarded):
    """A 4096+ character spelling (`/./././…`) of a path cannot be judged safely (a backend may
    normalise it before opening): under a path key the request is refused as unjudgeable, even
    when it leads somewhere harmless; anywhere else such a string is not a path."""
    long = "/" + "./" * 2100 + str(guarded["config"] / "policy.json").lstrip("/")
    assert os.path.realpath(long) == str(guarded["config"] / "policy.json")
    for arguments in ({"paths": [long]}, {"path": long}, {"file_path": long}):
        decision = guarded["engine"].evaluate(call("read_multiple_files", arguments))
        assert verdict(decision) == ("deny", "unjudgeable_path")
        assert "too long" in decision.reason and "4096" in decision.reason
    harmless = "/" + "./" * 2100 + str(guarded["tmp"]).lstrip("/") + "/a.txt"
    assert verdict(guarded["engine"].evaluate(call("read_file", {"path": harmless}))) == ("deny", "unjudgeable_path")
    text = "/" + "x" * 5000  # free text that merely starts with "/"
    assert verdict(
        guarded["engine"].evaluate(call("write_file", {"path": f"{guarded['tmp']}/a", "content": text}))
    ) == ("allow", "allow-all")


@pytest.mark.parametrize("key", ["source", "destination", "uri", "target"])
def test_overlong_path_under_a_maybe_path_key_is_refused(guarded, key):
    """move_file of the official filesystem server takes `source` and `destination`: an over-long
    spelling of the policy file there must not slip past the protected-folder check."""
    long = "/" + "./" * 2100 + str(guarded["config"] / "policy.json").lstrip("/")
    value = f"file://{long}" if key == "uri" else long
    decision = guarded["engine"].evaluate(call("copy_file", {key: value}))
    assert decision.effect == "deny"


def test_deeply_nested_path_arguments_are_checked(guarded):
    """Path strings nested however deep in the arguments are checked."""
    nested: dict = {"path": str(guarded["config"] / "policy.json")}
    for level in range(20):
        nested = {f"k{level}": [nested]}
    assert_protected(guarded["engine"].evaluate(call("batch_write", nested)))


@pytest.mark.parametrize(
    "arguments",
    [
        {"path": "/tmp/a\x00b"},
        {"paths": ["/x", "~\x00"]},
        {"source": "\x00/"},
        {"path": "/tmp/x\x00/../../policy.json"},
        {"file_path": "\x00"},
    ],
)
def test_nul_byte_in_a_path_argument_is_refused(guarded, arguments):
    """A client-controlled NUL byte must give a plain deny (unjudgeable: a backend written in C
    stops there), not an exception from realpath (which would stop the proxy)."""
    decision = guarded["engine"].evaluate(call("read_multiple_files", arguments))
    assert verdict(decision) == ("deny", "unjudgeable_path")
    assert "NUL" in decision.reason


def test_lexical_dotdot_after_symlink_cannot_reach_protected_folder(guarded, monkeypatch):
    """With dotfile-managed configs (~/.config/nvim → ~/dotfiles/nvim), the path
    `~/.config/nvim/../mcp-acp/policy.json` is the policy file for a backend that normalises
    lexically before opening (Node's path.resolve: the MCP filesystem server), while realpath
    sends it to ~/dotfiles/mcp-acp/…: both readings must be checked."""
    monkeypatch.setenv("HOME", str(guarded["home"]))
    dotfiles = guarded["home"] / "dotfiles" / "nvim"
    dotfiles.mkdir(parents=True)
    (guarded["home"] / ".config" / "nvim").symlink_to(dotfiles)
    for path in (f"{guarded['home']}/.config/nvim/../mcp-acp/policy.json", "~/.config/nvim/../mcp-acp/policy.json"):
        assert os.path.normpath(os.path.expanduser(path)) == str(guarded["config"] / "policy.json")
        assert_protected(guarded["engine"].evaluate(call("write_file", {"path": path, "content": "{}"})))
        assert_protected(guarded["engine"].evaluate(call("read_multiple_files", {"paths": [path]})))


# ================================================================ written and resolved forms


@pytest.fixture
def tree(tmp_path: Path):
    """allowed/ (policy-allowed), secret/ (not allowed), ask/ (hitl), and symlinks out of allowed/."""
    for name in ("allowed/sub", "secret", "ask", "outside/deeper"):
        (tmp_path / name).mkdir(parents=True)
    (tmp_path / "secret" / "k.txt").write_text("k")
    (tmp_path / "allowed" / "to-secret").symlink_to(tmp_path / "secret")
    (tmp_path / "allowed" / "k.txt").symlink_to(tmp_path / "secret" / "k.txt")
    (tmp_path / "allowed" / "to-ask").symlink_to(tmp_path / "ask")
    (tmp_path / "allowed" / "to-sub").symlink_to(tmp_path / "allowed" / "sub")
    (tmp_path / "allowed" / "to-deeper").symlink_to(tmp_path / "outside" / "deeper")
    (tmp_path / "alias").symlink_to(tmp_path / "allowed")
    return tmp_path


def tree_engine(root: Path, *extra: dict) -> PolicyEngine:
    return engine(
        {"id": "allowed", "effect": "allow", "conditions": {"path_pattern": f"{root}/allowed/**"}},
        {"id": "ask", "effect": "hitl", "conditions": {"path_pattern": f"{root}/ask/**"}},
        *extra,
    )


@pytest.mark.parametrize("tool", ["read_file", "write_file"])
def test_symlink_escape_from_allowed_folder_is_denied(tree, tool):
    """allowed/to-secret → secret/: the written path is allowed, where it leads is not."""
    for path in (f"{tree}/allowed/to-secret/k.txt", f"{tree}/allowed/k.txt", f"{tree}/allowed/to-secret"):
        assert verdict(tree_engine(tree).evaluate(call(tool, {"path": path}))) == ("deny", "default")


def test_symlink_escape_via_source_or_dest_is_denied(tree):
    rule = {
        "id": "copy",
        "effect": "allow",
        "conditions": {"source_path": f"{tree}/allowed/**", "dest_path": f"{tree}/allowed/**"},
    }
    good = call("copy_file", {"source": f"{tree}/allowed/sub/a", "destination": f"{tree}/allowed/b"})
    assert engine(rule).evaluate(good).effect == "allow"
    for arguments in (
        {"source": f"{tree}/allowed/to-secret/k.txt", "destination": f"{tree}/allowed/b"},
        {"source": f"{tree}/allowed/a", "destination": f"{tree}/allowed/to-secret/x"},
    ):
        assert verdict(engine(rule).evaluate(call("copy_file", arguments))) == ("deny", "default")


def test_symlink_into_a_hitl_folder_asks(tree):
    """Allowed as written, HITL as resolved ⇒ the human is asked (never a silent allow)."""
    decision = tree_engine(tree).evaluate(call("read_file", {"path": f"{tree}/allowed/to-ask/x"}))
    assert verdict(decision) == ("hitl", "ask")


def test_deny_in_either_form_beats_hitl_in_the_other(tree):
    """A human must never be asked to approve what one form forbids."""
    deny = {"id": "no-secret", "effect": "deny", "conditions": {"path_pattern": f"{tree}/secret/**"}}
    ask_reads = {
        "id": "ask-reads",
        "effect": "hitl",
        "conditions": {"tool_name": "read_file", "path_pattern": f"{tree}/allowed/**"},
    }
    request = call("read_file", {"path": f"{tree}/allowed/to-secret/k.txt"})
    decision = tree_engine(tree, deny, ask_reads).evaluate(request)
    assert verdict(decision) == ("deny", "no-secret")
    # and the other way round: written form denied, resolved form asks
    deny_link = {"id": "no-link", "effect": "deny", "conditions": {"path_pattern": f"{tree}/allowed/to-ask/**"}}
    decision = tree_engine(tree, deny_link).evaluate(call("read_file", {"path": f"{tree}/allowed/to-ask/x"}))
    assert verdict(decision) == ("deny", "no-link")


def test_rule_on_a_symlinked_folder_also_covers_its_target(tree):
    """Patterns match with their literal folder resolved, so a rule written on `allowed/to-secret/**`
    also applies to `secret/**` itself; with HITL outranking DENY in that form, the request asks."""
    deny = {"id": "no-secret", "effect": "deny", "conditions": {"path_pattern": f"{tree}/secret/**"}}
    ask_link = {"id": "ask-link", "effect": "hitl", "conditions": {"path_pattern": f"{tree}/allowed/to-secret/**"}}
    check = tree_engine(tree, deny, ask_link)
    assert verdict(check.evaluate(call("read_file", {"path": f"{tree}/secret/k.txt"}))) == ("hitl", "ask-link")
    via_link = call("read_file", {"path": f"{tree}/allowed/to-secret/k.txt"})
    assert verdict(check.evaluate(via_link)) == ("hitl", "ask-link")


def test_written_form_denied_even_if_resolved_form_allowed(tree):
    """A deny rule on the symlink path holds even though the target folder is allowed."""
    deny = {"id": "no-link", "effect": "deny", "conditions": {"path_pattern": f"{tree}/allowed/to-sub/**"}}
    assert verdict(tree_engine(tree, deny).evaluate(call("read_file", {"path": f"{tree}/allowed/to-sub/a"}))) == (
        "deny",
        "no-link",
    )


def test_symlink_staying_inside_the_allowed_folder_is_allowed(tree):
    assert verdict(tree_engine(tree).evaluate(call("read_file", {"path": f"{tree}/allowed/to-sub/a"}))) == (
        "allow",
        "allowed",
    )


def test_tilde_path_is_judged_where_it_leads(tree, monkeypatch):
    """`~/…` in a request is judged with home expanded (a server expands it): the shown path and
    every reading are absolute, so an absolute rule covers it and a symlink out of home does not."""
    monkeypatch.setenv("HOME", str(tree / "allowed"))
    ctx = call("read_file", {"path": "~/sub/a"})
    assert ctx.resource.path == f"{tree}/allowed/sub/a" and ctx.paths == ("~/sub/a",)
    assert set(ctx.judged[0].readings) == {f"{tree}/allowed/sub/a"}
    assert verdict(tree_engine(tree).evaluate(ctx)) == ("allow", "allowed")
    assert verdict(tree_engine(tree).evaluate(call("read_file", {"path": "~/to-secret/k.txt"}))) == ("deny", "default")


def test_tilde_in_patterns_means_home(tree, monkeypatch):
    """A `~/**` rule covers home however the request spells it, but not a symlink out of home
    nor a `~/..` escape."""
    monkeypatch.setenv("HOME", str(tree / "allowed"))
    tilde = engine({"id": "tilde", "effect": "allow", "conditions": {"path_pattern": "~/**"}})
    assert verdict(tilde.evaluate(call("read_file", {"path": "~/sub/a"}))) == ("allow", "tilde")
    assert verdict(tilde.evaluate(call("read_file", {"path": f"{tree}/allowed/sub/a"}))) == ("allow", "tilde")
    assert verdict(tilde.evaluate(call("read_file", {"path": "~/to-secret/k.txt"}))) == ("deny", "default")
    assert verdict(tilde.evaluate(call("read_file", {"path": "~/../secret/k.txt"}))) == ("deny", "default")
    assert verdict(tilde.evaluate(call("read_file", {"path": f"{tree}/secret/k.txt"}))) == ("deny", "default")


def test_pattern_through_a_symlinked_folder_still_matches_resolved_form(tree):
    """A rule written for `alias/**` (alias → allowed, like /tmp → /private/tmp on macOS) must
    not be defeated by resolving the request to `allowed/…`."""
    rule = {"id": "via-alias", "effect": "allow", "conditions": {"path_pattern": f"{tree}/alias/**"}}
    assert verdict(engine(rule).evaluate(call("read_file", {"path": f"{tree}/alias/sub/a"}))) == ("allow", "via-alias")
    exact = {"id": "exact", "effect": "allow", "conditions": {"path_pattern": f"{tree}/alias/sub/a"}}
    assert verdict(engine(exact).evaluate(call("read_file", {"path": f"{tree}/alias/sub/a"}))) == ("allow", "exact")


def test_resolved_extension_is_judged_too(tree):
    """notes.txt → secret.env: an extension allow on .txt must not cover the .env target."""
    (tree / "secret" / "creds.env").write_text("x")
    (tree / "allowed" / "notes.txt").symlink_to(tree / "secret" / "creds.env")
    rule = {"id": "txt", "effect": "allow", "conditions": {"extension": ".txt"}}
    assert verdict(engine(rule).evaluate(call("read_file", {"path": f"{tree}/allowed/notes.txt"}))) == (
        "deny",
        "default",
    )


def test_candidate_cache_does_not_leak_between_paths(tree):
    """Same tool, subject and backend, different paths: each request judged on its own path."""
    check = tree_engine(tree)
    for _ in range(3):
        assert check.evaluate(call("read_file", {"path": f"{tree}/allowed/a"})).effect == "allow"
        assert check.evaluate(call("read_file", {"path": f"{tree}/secret/a"})).effect == "deny"
        assert check.evaluate(call("read_file", {"path": f"{tree}/ask/a"})).effect == "hitl"
        assert check.evaluate(call("read_file", {"path": f"{tree}/allowed/a"}, subject="bob")).effect == "allow"


def test_symlink_then_dotdot_cannot_escape_the_allowed_folder(tree):
    """`allowed/to-deeper/../leak.txt` is `outside/leak.txt` on disk (the kernel follows the
    symlink before `..`): resolving the normpathed `allowed/leak.txt` instead would allow it."""
    sneaky = f"{tree}/allowed/to-deeper/../leak.txt"
    assert os.path.realpath(sneaky) == f"{tree}/outside/leak.txt"
    assert verdict(tree_engine(tree).evaluate(call("read_file", {"path": sneaky}))) == ("deny", "default")
    copy = {
        "id": "copy",
        "effect": "allow",
        "conditions": {"source_path": f"{tree}/allowed/**", "dest_path": f"{tree}/allowed/**"},
    }
    assert verdict(
        engine(copy).evaluate(call("copy_file", {"source": f"{tree}/allowed/a", "destination": sneaky}))
    ) == ("deny", "default")


def test_source_and_destination_are_judged_in_the_same_way_of_reading(tree):
    """A Node server reads `allowed/k.txt` (a link, no `..`) as secret/k.txt and
    `allowed/to-deeper/../b` (`..` first) as allowed/b: copying secret/k.txt into allowed/ is
    what it does, and a rule against exactly that must fire."""
    deny = {
        "id": "no-secret-into-allowed",
        "effect": "deny",
        "conditions": {"source_path": f"{tree}/secret/**", "dest_path": f"{tree}/allowed/**"},
    }
    request = call("copy_file", {"source": f"{tree}/allowed/k.txt", "destination": f"{tree}/allowed/to-deeper/../b"})
    assert verdict(engine(ALLOW_ALL, deny).evaluate(request)) == ("deny", "no-secret-into-allowed")


# ================================================================ docs/policies.md#worked-examples

PROJECT = {
    "version": "1",
    "default_action": "deny",
    "rules": [
        {
            "id": "read-project",
            "effect": "allow",
            "conditions": {"tool_name": ["read_*", "list_*"], "path_pattern": "/home/u/proj/**"},
        },
        {
            "id": "write-project",
            "effect": "hitl",
            "conditions": {"operations": ["write", "delete"], "path_pattern": "/home/u/proj/**"},
            "cache_side_effects": ["fs_write"],
        },
        {"id": "no-secrets", "effect": "deny", "conditions": {"path_pattern": ["**/.env", "**/secrets/**"]}},
    ],
}


@pytest.mark.parametrize(
    "tool,path,expected",
    [
        ("read_file", "/home/u/proj/src/a.py", ("allow", "read-project")),
        ("list_directory", "/home/u/proj", ("allow", "read-project")),
        ("write_file", "/home/u/proj/src/a.py", ("hitl", "write-project")),
        ("delete_file", "/home/u/proj/old.txt", ("hitl", "write-project")),
        ("read_file", "/home/u/proj/.env", ("deny", "no-secrets")),
        ("read_file", "/home/u/proj/secrets/key.pem", ("deny", "no-secrets")),
        ("write_file", "/home/u/proj/.env", ("hitl", "write-project")),  # HITL outranks DENY
        ("read_file", "/home/u/other/a.py", ("deny", "default")),
        ("read_file", "/home/u/.env", ("deny", "no-secrets")),
        ("move_file", "/home/u/proj/a", ("deny", "default")),  # no operation inferred
    ],
)
def test_spec_example_project_policy(tool, path, expected):
    decision = PolicyEngine(parse_policy(PROJECT), ProtectedPaths([])).evaluate(call(tool, {"path": path}))
    assert verdict(decision) == expected


def test_spec_example_project_write_is_cacheable():
    """write_file's side effects {fs_write} ⊆ cache_side_effects ⇒ the approval may be cached."""
    decision = PolicyEngine(parse_policy(PROJECT), ProtectedPaths([])).evaluate(
        call("write_file", {"path": "/home/u/proj/a.py"})
    )
    assert side_effects_of("write_file") <= decision.rule.cache_side_effects
    assert not side_effects_of("edit_file") <= decision.rule.cache_side_effects


MIXED = {
    "rules": [
        {"id": "block-exec", "effect": "deny", "conditions": {"side_effects": ["code_exec", "sudo_elevate"]}},
        {"id": "prompts", "effect": "allow", "conditions": {"mcp_method": "prompts/get", "backend_id": "docs-*"}},
        {
            "id": "res-files",
            "effect": "allow",
            "conditions": {"resource_type": "resource", "scheme": "file", "extension": [".md", ".txt"]},
        },
    ]
}


@pytest.mark.parametrize(
    "ctx,expected",
    [
        (lambda: call("bash", {"command": "ls"}), ("deny", "block-exec")),
        (lambda: call("sudo"), ("deny", "block-exec")),
        (lambda: call("docker_exec"), ("deny", "block-exec")),
        (lambda: call("mystery_exec"), ("deny", "default")),  # unknown effects: only the default denies it
        (lambda: context("prompts/get", {"name": "summarise"}, server="docs-main"), ("allow", "prompts")),
        (lambda: context("prompts/get", {"name": "summarise"}, server="Docs-Main"), ("allow", "prompts")),
        (lambda: context("prompts/get", {"name": "summarise"}, server="code"), ("deny", "default")),
        (lambda: call("read_file", server="docs-main"), ("deny", "default")),
        (lambda: read("file:///srv/docs/README.MD"), ("allow", "res-files")),
        (lambda: read("file:///srv/docs/notes.txt"), ("allow", "res-files")),
        (lambda: read("file:///srv/docs/a.py"), ("deny", "default")),
        (lambda: read("https://example.com/a.md"), ("deny", "default")),
        (lambda: call("read_file", {"path": "/srv/docs/a.md"}), ("deny", "default")),  # a tool, not a resource
    ],
)
def test_spec_example_mixed_policy(ctx, expected):
    assert verdict(PolicyEngine(parse_policy(MIXED), ProtectedPaths([])).evaluate(ctx())) == expected


COPY = {
    "rules": [
        {
            "id": "alice-copy",
            "effect": "allow",
            "conditions": {
                "subject_id": "auth0|alice",
                "tool_name": "copy_*",
                "source_path": "/data/inbox/**",
                "dest_path": "/srv/in/**",
            },
        },
        {"id": "no-dest-etc", "effect": "deny", "conditions": {"dest_path": "/etc/**"}},
    ]
}


@pytest.mark.parametrize(
    "subject,tool,source,dest,expected",
    [
        ("auth0|alice", "copy_file", "/data/inbox/a.csv", "/srv/in/a.csv", ("allow", "alice-copy")),
        ("auth0|alice", "COPY_FILE", "/data/inbox/x/y", "/srv/in", ("allow", "alice-copy")),
        ("auth0|bob", "copy_file", "/data/inbox/a.csv", "/srv/in/a.csv", ("deny", "default")),
        ("auth0|Alice", "copy_file", "/data/inbox/a.csv", "/srv/in/a.csv", ("deny", "default")),
        ("auth0|alice", "move_file", "/data/inbox/a.csv", "/srv/in/a.csv", ("deny", "default")),
        ("auth0|alice", "copy_file", "/data/other/a.csv", "/srv/in/a.csv", ("deny", "default")),
        ("auth0|alice", "copy_file", "/data/inbox/a.csv", "/etc/cron.d/x", ("deny", "no-dest-etc")),
        ("auth0|alice", "copy_file", "/data/inbox/../../etc/x", "/srv/in/x", ("deny", "default")),
        ("auth0|bob", "move_file", "/x", "/etc/passwd", ("deny", "no-dest-etc")),
    ],
)
def test_spec_example_copy_policy(subject, tool, source, dest, expected):
    decision = PolicyEngine(parse_policy(COPY), ProtectedPaths([])).evaluate(
        call(tool, {"source": source, "destination": dest}, subject=subject)
    )
    assert verdict(decision) == expected
