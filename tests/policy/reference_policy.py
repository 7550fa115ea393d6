"""A slow, plain reference evaluator for policy.json, written from docs/policies.md and the path
contract of issue 15 only.

It shares no code with mcp_acp.policy: it reads the raw policy dict and the raw JSON-RPC
message, translates every glob to a regex on every call, and checks every rule against every
request (no compilation, no candidate cache, no indexing). The property tests compare its
(effect, final_rule) with the engine's.

The path contract it models (issue 15, "judge what the server will actually do"):
- every path-like string at any depth of the arguments is a path of the request (`_meta`
  skipped). Under a key whose last word names a path (`path`, `paths`, `file_path`,
  `sourcePath`…) any string is one, the empty string included, unless it is a URI of another
  scheme; under a key that may name one (`source`, `to`, `uri`…) a string of at most 4096
  characters counts when it looks like a path (or has a `/`) or when the server's roots are
  known; anywhere else one counts when it is absolute (`/`, `~`, `file:`) or climbs (`..`);
- its role is source / destination when the key's first word says so, else path (other when
  the key says nothing);
- a relative path is read against each of the server's roots; without roots, or with a NUL
  byte, or longer than 4096 characters (under a path key), or past 1024 paths, the request is
  refused as `unjudgeable_path`;
- each path is read in three ways — as written (`..` collapsed lexically), as the kernel
  takes it (symlinks before `..`), as Node servers take it (`..` first, then symlinks) — and
  in its NFC spelling too. Source and destination are read the same way as the path being
  judged (a server resolves all its arguments one way). An allow needs every path in every
  reading allowed; any denial denies; else any approval asks. The first such outcome (readings
  as written first, arguments in written order) names the rule;
- a pattern also matches with `~` expanded and, if absolute, with its literal folder (an
  exact pattern: the whole path) resolved, so /tmp/** still matches /private/tmp/… on macOS;
  both sides are compared in NFC;
- protected folders are checked on every reading of every path, case-insensitively and NFC;
  a request that may modify also may not name an ancestor of one by a path, source or
  destination argument (free text that merely mentions `/` does not count).

Side effects come from the examples docs/policies.md#side-effects lists; tools outside this table are unknown,
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
    "initialize",
    "ping",
    "server/discover",
    "logging/setLevel",
    "tools/list",
    "resources/list",
    "resources/templates/list",
    "prompts/list",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
    "notifications/tasks/status",
}
# A task's later steps: its call was decided when it created the task.
FOLLOW_UPS = {"tasks/get", "tasks/list", "tasks/result", "tasks/cancel", "tasks/update"}


def _listens_to_lists_only(message: dict) -> bool:
    """subscriptions/listen that watches no resource is discovery."""
    params = message.get("params")
    wanted = params.get("notifications", {}) if isinstance(params, dict) else {}
    return isinstance(wanted, dict) and wanted.get("resourceSubscriptions") in (None, [])


# Key vocabulary (issue 15): the last word of a key that says its value is a path, words that
# say it may be one, and the first words that give the argument its role.
NAMES_A_PATH = {
    "path",
    "paths",
    "file",
    "files",
    "filename",
    "filenames",
    "filepath",
    "filepaths",
    "dir",
    "dirs",
    "directory",
    "directories",
    "folder",
    "folders",
    "cwd",
    "workdir",
    "pathname",
}
MAY_NAME_A_PATH = {
    "source",
    "src",
    "destination",
    "dest",
    "target",
    "from",
    "to",
    "uri",
    "url",
    "location",
    "root",
    "roots",
    "origin",
    "repo",
    "repository",
    "output",
    "input",
}
SOURCE_FIRST_WORDS = {"source", "src", "from", "origin"}
DEST_FIRST_WORDS = {"destination", "dest", "to", "target"}
LONGEST_PATH = 4096
MOST_PATHS = 1024
UNJUDGEABLE = "unjudgeable_path"

SHELL = {"code_exec", "fs_read", "fs_write", "network_egress", "process_spawn"}
SPEC_SIDE_EFFECTS = {
    "bash": SHELL,
    "shell": SHELL,
    "read_file": {"fs_read"},
    "write_file": {"fs_write"},
    "create_file": {"fs_write"},
    "delete_file": {"fs_write"},
    "mkdir": {"fs_write"},
    "edit_file": {"fs_read", "fs_write"},
    "move_file": {"fs_read", "fs_write"},
    "copy_file": {"fs_read", "fs_write"},
    "fetch_url": {"network_egress"},
    "curl": {"network_egress"},
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
        if pattern[i : i + 2] == "**":
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
        path = path[: path.index("\x00")]
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
        folder = literal[: literal.rfind("/")]
    if folder and really(folder) != folder:
        forms.append(really(folder) + expanded[len(folder) :])
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


def resource_type(method: str) -> str:
    if method == "tools/call":
        return "tool"
    if method.startswith("resources/"):
        return "resource"
    if method.startswith("prompts/"):
        return "prompt"
    return "server"


def words_of(key: str) -> list[str]:
    """`sourcePath`, `source_path`, `source-path`, `SOURCE_PATH` → ["source", "path"]: split at
    anything not a letter or digit, then before an upper-case letter that starts a word."""
    words: list[str] = []
    for chunk in re.split(r"[^A-Za-z0-9]+", key):
        current = ""
        for i, char in enumerate(chunk):
            before = chunk[i - 1] if i else ""
            after = chunk[i + 1] if i + 1 < len(chunk) else ""
            starts = (
                char.isupper()
                and current
                and (before.islower() or before.isdigit() or (before.isupper() and after.islower()))
            )
            if starts:
                words.append(current)
                current = ""
            current += char
        if current:
            words.append(current)
    return [word.lower() for word in words] or [key.lower()]


def kind_of_key(key: str | None) -> tuple[str, str]:
    """("names" | "may" | "no", role) of the key a string is found under."""
    if key is None:
        return "no", "other"
    words = words_of(key)
    role = "source" if words[0] in SOURCE_FIRST_WORDS else "dest" if words[0] in DEST_FIRST_WORDS else "path"
    if words[-1] in NAMES_A_PATH or "".join(words) in NAMES_A_PATH:
        return "names", role
    if words[-1] in MAY_NAME_A_PATH or words[0] in MAY_NAME_A_PATH:
        return "may", role
    return "no", "other"


def is_file_uri(text: str) -> bool:
    return text[:5].lower() == "file:"


def other_scheme(text: str) -> bool:
    return re.match(r"[A-Za-z][A-Za-z0-9+.\-]*:", text) is not None and not is_file_uri(text)


def absolute_or_climbs(text: str) -> bool:
    if text.startswith(("/", "~", "./", "../")) or is_file_uri(text):
        return True
    segments = text.split("/")
    return ".." in segments


def collect(value, key: str | None, roots_known: bool, found: list[tuple[str, str, bool]]) -> None:
    """Every path-like string in `value`, in the order written: (text, role, under a path key)."""
    if isinstance(value, dict):
        for child_key, child in value.items():
            if child_key != "_meta":
                collect(child, child_key, roots_known, found)
    elif isinstance(value, list):
        for child in value:
            collect(child, key, roots_known, found)
    elif isinstance(value, str):
        kind, role = kind_of_key(key)
        if (kind == "names" and not other_scheme(value)) or (
            kind != "no"
            and len(value) <= LONGEST_PATH
            and not other_scheme(value)
            and (roots_known or absolute_or_climbs(value) or "/" in value)
        ):
            found.append((value, role, True))
        elif len(value) <= LONGEST_PATH and absolute_or_climbs(value):
            found.append((value, role if kind != "no" else "other", False))


def path_arguments(method: str, params: dict, roots_known: bool) -> list[tuple[str, str, bool]]:
    found: list[tuple[str, str, bool]] = []
    if method in ("tools/call", "prompts/get"):
        collect(params.get("arguments"), None, roots_known, found)
    elif method == "completion/complete":
        argument = params.get("argument") if isinstance(params.get("argument"), dict) else {}
        name = argument.get("name") if isinstance(argument.get("name"), str) else "value"
        collect({name: argument.get("value")}, None, roots_known, found)
        context = params.get("context") if isinstance(params.get("context"), dict) else {}
        collect(context.get("arguments"), None, roots_known, found)
    elif method.startswith("resources/"):
        uri = params.get("uri")
        if isinstance(uri, str) and is_file_uri(uri):
            found.append((uri, "path", True))
        collect(params.get("arguments"), None, roots_known, found)
    else:
        collect({k: v for k, v in params.items() if k != "_meta"}, None, roots_known, found)
    return found


def on_disk(text: str) -> str:
    """What a server hands the filesystem: a `file:` URI's path, `~` expanded, `//` as `/`."""
    if is_file_uri(text):
        text = unquote(urlsplit(text).path)
    while text.startswith("//"):
        text = text[1:]
    return os.path.expanduser(text)


STRATEGIES = ("written", "kernel", "node", "written-nfc", "kernel-nfc", "node-nfc")


def read_ways(absolute: str) -> dict[str, str]:
    """The file each way of reading `absolute` leads to."""
    ways = {}
    for suffix, spelling in (("", absolute), ("-nfc", unicodedata.normalize("NFC", absolute))):
        ways["written" + suffix] = posixpath.normpath(spelling)
        ways["kernel" + suffix] = os.path.realpath(spelling)
        ways["node" + suffix] = os.path.realpath(posixpath.normpath(spelling))
    return ways


def judge(text: str, roots: list[str]) -> tuple[list[dict[str, str]], str | None]:
    """(the read_ways of each place the path may be, None) or ([], why it cannot be judged)."""
    if len(text) > LONGEST_PATH:
        return [], "too long"
    if "\x00" in text:
        return [], "NUL"
    text = on_disk(text)
    if text.startswith("/"):
        return [read_ways(text)], None
    if not roots:
        return [], "no roots"
    return [read_ways(posixpath.join(root, text)) for root in roots], None


def describe(message: dict, server_id: str, roots: list[str]) -> tuple[dict, list[dict], str | None]:
    """(the request's attributes without paths, its paths — each {"role", "places"} — , and why
    one cannot be judged, if so)."""
    method = message.get("method") or ""
    params = message.get("params") if isinstance(message.get("params"), dict) else {}
    attrs = {
        "method": method,
        "type": resource_type(method),
        "server": server_id,
        "tool": None,
        "scheme": None,
        "path": None,
        "source": None,
        "dest": None,
        "extension": None,
    }
    if method == "tools/call":
        attrs["tool"] = params.get("name") if isinstance(params.get("name"), str) else None
    elif isinstance(params.get("uri"), str):
        attrs["scheme"] = urlsplit(params["uri"]).scheme.lower() or None
    if method in DISCOVERY:
        return attrs, [], None
    found = path_arguments(method, params, bool(roots))
    if len(found) > MOST_PATHS:
        return attrs, [], "too many"
    paths = []
    for text, role, _keyed in found:
        places, problem = judge(text, roots)
        if problem:
            return attrs, [], problem
        paths.append({"role": role, "places": places})
    return attrs, paths, None


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
        return any(path_glob_matches(nfc(form), nfc(target)) for v in values for form in pattern_forms(v))
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
    matched = [
        rule
        for rule in rules
        if all(
            condition_holds(name, value, attrs, subject_id)
            for name, value in rule["conditions"].items()
            if value is not None
        )
    ]
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


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


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


def hits_protected(paths: list[dict], protected: list[str], modifies: bool) -> bool:
    folders = [_key(really(folder)) for folder in protected]
    for item in paths:
        for place in item["places"]:
            for reading in place.values():
                where = _key(reading)
                for folder in folders:
                    if where == folder or where.startswith(folder + "/"):
                        return True
                    # moving or deleting a folder takes everything inside along
                    if modifies and item["role"] != "other" and (where == "/" or folder.startswith(where + "/")):
                        return True
    return False


# ------------------------------------------------------------------------------ decision


def _with_path(attrs: dict, path: str, source: str | None, dest: str | None) -> dict:
    extension = posixpath.splitext(posixpath.basename(path))[1] or None
    return dict(attrs, path=path, extension=extension, source=source, dest=dest)


def decide(
    policy: dict,
    message: dict,
    subject_id: str,
    server_id: str,
    protected: list[str],
    roots: list[str] | tuple[str, ...] = (),
) -> tuple[str, str]:
    """(effect, final_rule) for one request, the slow way."""
    attrs, paths, problem = describe(message, server_id, list(roots))
    if attrs["method"] in DISCOVERY or (  # discovery acts on no file, so there is nothing to protect
        attrs["method"] == "subscriptions/listen" and _listens_to_lists_only(message)
    ):
        return ALLOW, "discovery_bypass"
    if attrs["method"] in FOLLOW_UPS:
        return ALLOW, "task_follow_up"
    if problem:
        return DENY, UNJUDGEABLE
    if hits_protected(paths, protected, may_modify(attrs)):
        return DENY, "built_in_protected_path"
    rules = policy.get("rules", [])
    if not paths:
        return combine(rules, attrs, subject_id)
    strictness = {ALLOW: 0, HITL: 1, DENY: 2}
    first_source = next((item for item in paths if item["role"] == "source"), None)
    first_dest = next((item for item in paths if item["role"] == "dest"), None)

    def way(item: dict | None, place: int, strategy: str) -> str | None:
        if item is None:
            return None
        return item["places"][min(place, len(item["places"]) - 1)][strategy]

    worst, seen = None, set()
    for place in range(max(len(item["places"]) for item in paths)):
        for strategy in STRATEGIES:  # a server reads all its arguments one way
            for item in paths:
                # each source is judged as the source, each destination as the destination
                judged = (
                    way(item, place, strategy),
                    way(item if item["role"] == "source" else first_source, place, strategy),
                    way(item if item["role"] == "dest" else first_dest, place, strategy),
                )
                if judged in seen:
                    continue
                seen.add(judged)
                outcome = combine(rules, _with_path(attrs, *judged), subject_id)
                if worst is None or strictness[outcome[0]] > strictness[worst[0]]:
                    worst = outcome
    return worst
