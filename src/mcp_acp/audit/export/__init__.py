"""Shipping the audit trail to a SIEM (docs/audit.md): read from the chained files, send, advance a cursor."""
