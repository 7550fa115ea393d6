"""A slow, plain reference evaluator for policy.json, written from SPEC §2–3 only.

It shares no code with mcp_acp.policy: it reads the raw policy dict and the raw JSON-RPC
message, translates every glob to a regex on every call, and checks every rule against every
request (no compilation, no candidate cache, no indexing). The property tests compare its
(effect, final_rule) with the engine's.

Besides the SPEC it follows the project's documented design choices:
- a path is judged as written (normpath) and as resolved (realpath of the string as written,
  `~` expanded); if either form is denied (by a rule or by default) the request is denied, else
  HITL if either form asks, else allow (the written form's answer is kept when both agree);
- a path pattern also matches with `~` expanded and, if absolute, with its literal folder (an
  exact pattern: the whole path) resolved, so /tmp/** still matches /private/tmp/… on macOS;
- protected folders are checked by realpath, case-insensitively and NFC-normalised, on the
  request's path, source and destination and on every string argument that names a path (has
  a `/` or starts with `~`; `file:` URIs by their path); a request that may modify also may not
  name an ancestor of one as its path, source or destination; a NUL byte in any of them denies.

Side effects come from the examples the SPEC lists (§3); tools outside this table are unknown,
so property tests must only use these tools or tools the engine does not know either.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import unicodedata
from urllib.parse import unquote, urlsplit

DISCOVERY = {
    "initialize", "ping", "tools/list", "resources/list", "resources/templates/list", "prompts/list",
    "notifications/initialized", "notifications/cancelled", "notifications/progress",
    "notifications/resources/list_changed", "notifications/tools/list_changed",
    "notifications/prompts/list_changed",
}

SOURCE_KEYS = ["source", "src", "from", "from_path", "source_path", "origin"]
DEST_KEYS = ["destination", "destination_path", "dest", "to", "to_path", "dest_path", "target", "target_path"]
GENERIC_KEYS = ["path", "file_path", "filepath", "file", "filename"]

SHELL = {"code_exec", "fs_read", "fs_write", "network_egress", "process_spawn"}
SPEC_SIDE_EFFECTS = {
    "bash": SHELL, "shell": SHELL,
    "read_file": {"fs_read"},
    "write_file": {"fs_write"}, "create_file": {"fs_write"}, "delete_file": {"fs_write"}, "mkdir": {"fs_write"},
    "edit_file": {"fs_read", "fs_write"}, "move_file": {"fs_read", "fs_write"}, "copy_file": {"fs_read", "fs_write"},
    "fetch_url": {"network_egress"}, "curl": {"network_egress"},
    "execute_sql": {"db_read", "db_write"},
    "get_secret": {"secrets_read"},
    "get_password": {"keychain_read", "secrets_read"},
    "docker_exec": {"container_exec", "code_exec"},
    "send_email": {"email_send", "network_egress"},
}

READ_WORDS = ["read", "get", "list", "fetch", "search", "find"]
DELETE_WORDS = ["delete", "remove", "drop", "clear"]
WRITE_WORDS = ["write", "create", "edit", "update", "set", "save", "put", "add", "insert", "append"]

ALLOW, DENY, HITL = "allow", "deny", "hitl"


# ---------------------------------------------------------------- globs, written out by hand

def name_glob_matches(pattern: str, value: str, ignore_case: bool) -> bool:
    """`*` = any run of characters, `?` = exactly one; everything else literal; whole value."""
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    regex = ""
    for char in pattern:
        if char == "*":
            regex += ".*"
        elif char == "?":
            regex += "."
        else:
            regex += re.escape(char)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _strip_trailing(path: str) -> str:
    while len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return path


def path_glob_matches(pattern: str, value: str) -> bool:
    """`*`, `?` within one folder, `**` anything; trailing `/**` also matches the folder itself."""
    pattern, value = _strip_trailing(pattern), _strip_trailing(value)
    if _path_regex_matches(pattern, value):
        return True
    if pattern.endswith("/**"):
        folder = pattern[:-3]
        return _path_regex_matches(folder, value) if folder else value == "/"
    return False


def _path_regex_matches(pattern: str, value: str) -> bool:
    regex, i = "", 0
    while i < len(pattern):
        if pattern[i:i + 2] == "**":
            regex += ".*"
            i += 2
            continue
        if pattern[i] == "*":
            regex += "[^/]*"
        elif pattern[i] == "?":
            regex += "[^/]"
        else:
            regex += re.escape(pattern[i])
        i += 1
    return re.fullmatch(regex, value, re.DOTALL) is not None


def really(path: str) -> str:
    """Where a path leads on this machine: a `file:` URI by its path, cut at a NUL (as C reads
    it), `~` expanded, symlinks and `..` resolved."""
    if path.startswith("file:"):
        path = unquote(urlsplit(path).path)
    if "\x00" in path:
        path = path[:path.index("\x00")]
    while path.startswith("//"):
        path = path[1:]
    return os.path.realpath(os.path.expanduser(path))


def pattern_forms(pattern: str) -> list[str]:
    """The pattern, with `~` expanded, and (if absolute) with its literal folder resolved."""
    forms = [pattern]
    expanded = os.path.expanduser(pattern)
    if expanded != pattern:
        forms.append(expanded)
    if not expanded.startswith("/"):
        return forms
    first_wildcard = None
    for i, char in enumerate(expanded):
        if char in "*?":
            first_wildcard = i
            break
    if first_wildcard is None:
        folder = expanded  # an exact pattern: resolve all of it (it may name a symlink)
    else:
        literal = expanded[:first_wildcard]
        folder = literal[:literal.rfind("/")]
    if folder and really(folder) != folder:
        forms.append(really(folder) + expanded[len(folder):])
    return forms


def depth(pattern: str) -> int:
    count = 0
    for segment in _strip_trailing(pattern).split("/"):
        if "*" in segment or "?" in segment:
            return count
        if segment:
            count += 1
    return count


# ------------------------------------------------------------------------- the request

def operation(tool: str | None) -> str | None:
    if not tool:
        return None
    name = tool.lower()
    for op, words in (("read", READ_WORDS), ("delete", DELETE_WORDS), ("write", WRITE_WORDS)):
        for word in words:
            if name.startswith(word + "_") or ("_" + word) in name:
                return op
    return None


def side_effects(tool: str | None) -> set[str] | None:
    if not tool:
        return None
    return SPEC_SIDE_EFFECTS.get(tool.lower())


def _first_text(arguments: dict, keys: list[str]) -> str | None:
    for key in keys:
        value = arguments.get(key)
        if isinstance(value, str) and value != "":
            return value
    return None


def _all_strings(value, found: list[str]) -> list[str]:
    if isinstance(value, str):
        found.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _all_strings(item, found)
    elif isinstance(value, list):
        for item in value:
            _all_strings(item, found)
    return found


def resource_type(method: str) -> str:
    if method == "tools/call":
        return "tool"
    if method.startswith("resources/"):
        return "resource"
    if method.startswith("prompts/"):
        return "prompt"
    return "server"


def _with_path(attrs: dict, path: str | None) -> dict:
    attrs = dict(attrs, path=path, extension=None)
    if path:
        attrs["extension"] = posixpath.splitext(posixpath.basename(path))[1] or None
    return attrs


def names_a_path(text: str) -> bool:
    return "/" in text or text.startswith("~")


def describe(message: dict, server_id: str) -> tuple[dict, dict, list[str], list[str]]:
    """(attributes as written, attributes as resolved, the request's own path/source/dest as
    written, other strings that name a path)."""
    method = message.get("method") or ""
    params = message.get("params") if isinstance(message.get("params"), dict) else {}
    attrs = {"method": method, "type": resource_type(method), "server": server_id, "tool": None,
             "scheme": None, "source": None, "dest": None}
    raw_path = raw_source = raw_dest = None
    strings: list[str] = []
    if method == "tools/call":
        tool = params.get("name") if isinstance(params.get("name"), str) else None
        arguments = params.get("arguments") if isinstance(params.get("arguments"), dict) else {}
        attrs["tool"] = tool
        raw_source, raw_dest = _first_text(arguments, SOURCE_KEYS), _first_text(arguments, DEST_KEYS)
        raw_path = _first_text(arguments, GENERIC_KEYS) or raw_source or raw_dest
        strings = [text for text in _all_strings(arguments, []) if names_a_path(text)]
    elif isinstance(params.get("uri"), str) and params["uri"]:
        parts = urlsplit(params["uri"])
        attrs["scheme"] = parts.scheme.lower() or None
        if attrs["scheme"] == "file" and unquote(parts.path):
            raw_path = unquote(parts.path)
    else:
        raw_path = _first_text(params, GENERIC_KEYS)

    def norm(p):
        return posixpath.normpath(p) if p else None

    def resolved(p):
        return really(p) if p else None

    written = _with_path(dict(attrs, source=norm(raw_source), dest=norm(raw_dest)), norm(raw_path))
    real = _with_path(dict(attrs, source=resolved(raw_source), dest=resolved(raw_dest)), resolved(raw_path))
    targets = [text for text in (raw_path, raw_source, raw_dest) if text]
    return written, real, targets, strings


# ----------------------------------------------------------------------------- the rules

def rule_id(rule: dict) -> str:
    if rule.get("id"):
        return rule["id"]
    conditions = {k: v for k, v in rule["conditions"].items() if v is not None}
    body = json.dumps({"effect": rule["effect"], "conditions": conditions}, sort_keys=True)
    return "rule_" + hashlib.sha256(body.encode()).hexdigest()[:8]


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def specificity(conditions: dict) -> int:
    score = 0
    for name, value in conditions.items():
        if value is None:
            continue
        values = _listed(value)
        exact = all("*" not in v and "?" not in v for v in values)
        if name in ("tool_name", "backend_id", "mcp_method"):
            score += 110 if exact else 100
        elif name in ("path_pattern", "source_path", "dest_path"):
            score += (110 if exact else 100) + max((depth(v) for v in values), default=0)
        elif name in ("resource_type", "subject_id"):
            score += 110
        else:
            score += 100
    return score


def condition_holds(name: str, value, attrs: dict, subject_id: str) -> bool:
    values = _listed(value)
    if not values:
        return False
    if name == "tool_name":
        return attrs["tool"] is not None and any(name_glob_matches(v, attrs["tool"], True) for v in values)
    if name == "backend_id":
        return any(name_glob_matches(v, attrs["server"], True) for v in values)
    if name == "mcp_method":
        return any(name_glob_matches(v, attrs["method"], False) for v in values)
    if name in ("path_pattern", "source_path", "dest_path"):
        target = attrs[{"path_pattern": "path", "source_path": "source", "dest_path": "dest"}[name]]
        if target is None:
            return False
        return any(path_glob_matches(form, target) for v in values for form in pattern_forms(v))
    if name == "operations":
        op = operation(attrs["tool"]) if attrs["type"] == "tool" else None
        return op is not None and op in values
    if name == "side_effects":
        effects = side_effects(attrs["tool"]) if attrs["type"] == "tool" else None
        return effects is not None and any(v in effects for v in values)
    if name == "subject_id":
        return subject_id in values
    if name == "resource_type":
        return attrs["type"] == value.lower()
    if name in ("extension", "scheme"):
        actual = attrs[name]
        return actual is not None and any(v.lower() == actual.lower() for v in values)
    raise AssertionError(f"reference does not know condition {name}")


def combine(rules: list[dict], attrs: dict, subject_id: str) -> tuple[str, str]:
    matched = [rule for rule in rules
               if all(condition_holds(name, value, attrs, subject_id)
                      for name, value in rule["conditions"].items() if value is not None)]
    if not matched:
        return DENY, "default"
    effects = {rule["effect"] for rule in matched}
    winner = HITL if HITL in effects else DENY if DENY in effects else ALLOW
    best = None
    for rule in matched:
        if rule["effect"] != winner:
            continue
        if best is None or specificity(rule["conditions"]) > specificity(best["conditions"]):
            best = rule
    return winner, rule_id(best)


# --------------------------------------------------------------------- protected folders

def _key(path: str) -> str:
    key = unicodedata.normalize("NFC", path).casefold()
    return _strip_trailing(key)


def may_modify(attrs: dict) -> bool:
    if attrs["type"] != "tool":
        return False
    op = operation(attrs["tool"])
    if op in ("write", "delete"):
        return True
    effects = side_effects(attrs["tool"])
    if effects is not None:
        return "fs_write" in effects or "code_exec" in effects
    return op is None  # nothing known about the tool


def hits_protected(targets: list[str], strings: list[str], protected: list[str], modifies: bool) -> bool:
    folders = [_key(really(folder)) for folder in protected]
    for text in targets + strings:
        where = _key(really(text))
        for folder in folders:
            if where == folder or where.startswith(folder + "/"):
                return True
    if modifies:  # moving or deleting a folder takes everything inside along
        for text in targets:
            where = _key(really(text))
            for folder in folders:
                if where == "/" or folder.startswith(where + "/"):
                    return True
    return False


# ------------------------------------------------------------------------------ decision

def decide(policy: dict, message: dict, subject_id: str, server_id: str, protected: list[str]) -> tuple[str, str]:
    """(effect, final_rule) for one request, the slow way."""
    written, resolved, targets, strings = describe(message, server_id)
    if written["method"] in DISCOVERY:  # discovery acts on no file, so there is nothing to protect
        return ALLOW, "discovery_bypass"
    if any("\x00" in text for text in targets + strings):  # no real path has one: a trick
        return DENY, "built_in_protected_path"
    if hits_protected(targets, strings, protected, may_modify(written)):
        return DENY, "built_in_protected_path"
    rules = policy.get("rules", [])
    as_written = combine(rules, written, subject_id)
    as_resolved = combine(rules, resolved, subject_id)
    strictness = {ALLOW: 0, HITL: 1, DENY: 2}
    if strictness[as_resolved[0]] > strictness[as_written[0]]:
        return as_resolved
    return as_written
