"""The policy decision point: the policy model and its validation, globs compiled at load, every path
a request carries, the decision context, and the engine (context in, ALLOW / DENY / HITL out).
Pure: no I/O but resolving paths, so the proxy and the decision explorer share it."""
