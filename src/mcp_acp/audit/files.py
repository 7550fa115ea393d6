"""The protected files of a proxy's log folder, by short name and relative path."""

from __future__ import annotations

PROTECTED = {
    "operations": "audit/operations.jsonl",
    "decisions": "audit/decisions.jsonl",
    "auth": "audit/auth.jsonl",
    "system": "system/system.jsonl",
    "config-history": "system/config_history.jsonl",
    "policy-history": "system/policy_history.jsonl",
    "repairs": "system/repairs.jsonl",  # what every `audit repair` changed, and which entries it lost
}
DEBUG_FILES = {"client-wire": "debug/client_wire.jsonl", "backend-wire": "debug/backend_wire.jsonl"}
LAST_CRASH = ".last_crash"
SHUTDOWNS = "shutdowns.jsonl"
