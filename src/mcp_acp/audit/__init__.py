"""The audit trail: hash-chained JSONL logs, integrity state, verification and repair."""
