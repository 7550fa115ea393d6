"""Tool names to operations and side effects (policy/side_effects.py): the operation inferred
from a tool's name, and the side-effect map of the tools the docs list as examples."""

from __future__ import annotations

import pytest

from mcp_acp.policy.side_effects import operation_of, side_effects_of

# ================================================================ 7. operations


@pytest.mark.parametrize(
    "tool,expected",
    [
        ("read_file", "read"),
        ("get_user", "read"),
        ("list_directory", "read"),
        ("fetch_page", "read"),
        ("search_code", "read"),
        ("find_files", "read"),
        ("file_read", "read"),
        ("repo_list", "read"),
        ("delete_file", "delete"),
        ("remove_item", "delete"),
        ("drop_table", "delete"),
        ("cache_clear", "delete"),
        ("write_file", "write"),
        ("create_issue", "write"),
        ("edit_file", "write"),
        ("update_row", "write"),
        ("set_flag", "write"),
        ("save_doc", "write"),
        ("put_object", "write"),
        ("add_user", "write"),
        ("insert_row", "write"),
        ("append_log", "write"),
        ("file_write", "write"),
        ("row_update", "write"),
        ("DELETE_FILE", "delete"),
        ("Write_File", "write"),
        # order read → delete → write proven by names that fit more than one
        ("delete_read_marker", "read"),  # delete prefix, but a read infix is checked first
        ("write_then_delete", "delete"),  # write prefix, but the delete infix is checked first
        ("update_and_remove", "delete"),
        ("remove_then_get", "read"),
        # nothing the heuristic knows
        ("copy_file", None),
        ("move_file", None),
        ("bash", None),
        ("frobnicate", None),
        ("reader", None),
        ("deleted", None),
        ("", None),
        (None, None),
    ],
)
def test_operation_inference(tool, expected):
    """Heuristic mislabels would let a destructive tool pass a read-only rule."""
    assert operation_of(tool) == expected


# ================================================================ 8. side effects


@pytest.mark.parametrize(
    "tool,effects",
    [
        ("bash", {"code_exec", "fs_read", "fs_write", "network_egress", "process_spawn"}),
        ("shell", {"code_exec", "fs_read", "fs_write", "network_egress", "process_spawn"}),
        ("read_file", {"fs_read"}),
        ("write_file", {"fs_write"}),
        ("create_file", {"fs_write"}),
        ("delete_file", {"fs_write"}),
        ("mkdir", {"fs_write"}),
        ("edit_file", {"fs_read", "fs_write"}),
        ("move_file", {"fs_read", "fs_write"}),
        ("copy_file", {"fs_read", "fs_write"}),
        ("fetch_url", {"network_egress"}),
        ("curl", {"network_egress"}),
        ("http_get", {"network_egress"}),
        ("execute_sql", {"db_read", "db_write"}),
        ("get_secret", {"secrets_read"}),
        ("get_password", {"keychain_read", "secrets_read"}),
        ("docker_exec", {"container_exec", "code_exec"}),
        ("send_email", {"email_send", "network_egress"}),
        ("BASH", {"code_exec", "fs_read", "fs_write", "network_egress", "process_spawn"}),
        ("frobnicate", None),
        ("bash2", None),
        ("read_file_fast", None),
        ("", None),
    ],
)
def test_side_effects_map_spec_examples(tool, effects):
    """docs/policies.md#side-effects examples; exact names, case-insensitive; anything else unknown (None)."""
    assert side_effects_of(tool) == (frozenset(effects) if effects is not None else None)
