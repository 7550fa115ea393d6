"""The audit trail: hash-chained JSONL logs and their single writer, the integrity state, the trail
record and audit key, rotation, verification and repair, and fail-closed shutdown."""
