"""What a tool does, known from its name alone (docs/policies.md#side-effects): side effects and operation.

Both are static facts about tool names, so the engine can use them as conditions without
trusting anything the backend says about its own tools.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

SideEffect = Literal[
    "fs_read",
    "fs_write",
    "db_read",
    "db_write",
    "network_egress",
    "network_ingress",
    "code_exec",
    "process_spawn",
    "sudo_elevate",
    "secrets_read",
    "env_read",
    "keychain_read",
    "clipboard_read",
    "clipboard_write",
    "browser_open",
    "screen_capture",
    "audio_capture",
    "camera_capture",
    "cloud_api",
    "container_exec",
    "email_send",
]
Operation = Literal["read", "write", "delete"]

_SHELL = frozenset({"code_exec", "fs_read", "fs_write", "network_egress", "process_spawn"})
_READ = frozenset({"fs_read"})
_WRITE = frozenset({"fs_write"})
_READ_WRITE = frozenset({"fs_read", "fs_write"})
_EGRESS = frozenset({"network_egress"})
_DB_READ = frozenset({"db_read"})
_DB_RW = frozenset({"db_read", "db_write"})


def _each(names: str, effects: frozenset[str]) -> dict[str, frozenset[str]]:
    return dict.fromkeys(names.split(), effects)


# Exact tool names, compared lower-cased. A tool not listed has unknown side effects (None).
TOOL_SIDE_EFFECTS: dict[str, frozenset[str]] = {
    **_each(
        "bash shell sh zsh run_command execute_command exec run_shell terminal run_terminal_command "
        "execute_shell shell_exec run_script",
        _SHELL,
    ),
    **_each(
        "execute_code run_code python run_python eval evaluate execute_python run_javascript",
        frozenset({"code_exec", "process_spawn"}),
    ),
    **_each("sudo run_as_root", frozenset({"sudo_elevate", "code_exec", "process_spawn"})),
    **_each(
        "read_file read_text_file read_media_file read_multiple_files get_file_info list_directory "
        "list_directory_with_sizes directory_tree search_files list_allowed_directories view_file "
        "cat_file open_file get_file_contents find_files glob grep",
        _READ,
    ),
    **_each(
        "write_file create_file delete_file mkdir create_directory remove_file delete_directory "
        "rmdir append_file touch",
        _WRITE,
    ),
    **_each("edit_file move_file copy_file rename_file patch_file replace_in_file str_replace", _READ_WRITE),
    **_each(
        "fetch fetch_url curl wget http_get http_post http_request http_put http_delete web_fetch download_file browse",
        _EGRESS,
    ),
    **_each("web_search search_web", frozenset({"network_egress", "cloud_api"})),
    **_each("query read_query list_tables describe_table select sql_query", _DB_READ),
    **_each("execute_sql write_query run_sql create_table insert update_rows delete_rows", _DB_RW),
    **_each("get_secret read_secret list_secrets", frozenset({"secrets_read"})),
    **_each("get_password read_password", frozenset({"keychain_read", "secrets_read"})),
    **_each("get_env read_env getenv list_env", frozenset({"env_read"})),
    **_each("read_clipboard get_clipboard paste", frozenset({"clipboard_read"})),
    **_each("write_clipboard set_clipboard copy_to_clipboard", frozenset({"clipboard_write"})),
    **_each("open_browser open_url navigate browser_navigate", frozenset({"browser_open", "network_egress"})),
    **_each("screenshot take_screenshot capture_screen browser_screenshot", frozenset({"screen_capture"})),
    **_each("record_audio", frozenset({"audio_capture"})),
    **_each("take_photo capture_camera", frozenset({"camera_capture"})),
    **_each("docker_exec kubectl_exec container_exec", frozenset({"container_exec", "code_exec"})),
    **_each("docker_run run_container", frozenset({"container_exec", "process_spawn"})),
    **_each("send_email send_mail", frozenset({"email_send", "network_egress"})),
    **_each("git_status git_log git_diff git_diff_staged git_diff_unstaged git_show", _READ),
    **_each("git_commit git_add git_reset git_checkout git_create_branch", _READ_WRITE),
    **_each("git_push git_pull git_clone", frozenset({"fs_read", "fs_write", "network_egress"})),
    # Harmless tools with known-empty effects: approvals of them may be cached.
    **_each("echo get_current_time convert_time get_time add ping", frozenset()),
}

_PREFIXES: tuple[tuple[Operation, tuple[str, ...]], ...] = (
    ("read", ("read_", "get_", "list_", "fetch_", "search_", "find_")),
    ("delete", ("delete_", "remove_", "drop_", "clear_")),
    ("write", ("write_", "create_", "edit_", "update_", "set_", "save_", "put_", "add_", "insert_", "append_")),
)
# "_read" inside a name, and so on: checked in the same order, read → delete → write.
_INFIXES = tuple((operation, tuple("_" + p.rstrip("_") for p in prefixes)) for operation, prefixes in _PREFIXES)


@lru_cache(maxsize=4096)  # tool names repeat; the heuristics need not run per request
def side_effects_of(tool_name: str | None) -> frozenset[str] | None:
    return TOOL_SIDE_EFFECTS.get(tool_name.lower()) if tool_name else None


@lru_cache(maxsize=4096)
def operation_of(tool_name: str | None) -> Operation | None:
    """The operation a tool name suggests (a heuristic); None when the name says nothing."""
    if not tool_name:
        return None
    name = tool_name.lower()
    for (operation, prefixes), (_, infixes) in zip(_PREFIXES, _INFIXES, strict=True):
        if name.startswith(prefixes) or any(infix in name for infix in infixes):
            return operation
    return None
