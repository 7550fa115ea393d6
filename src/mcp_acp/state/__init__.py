"""Shared state (docs/scale.md): what gateway replicas must agree on, behind one interface.

`open_state(url)` gives the embedded default (in this process, nothing to install) for no URL,
and Redis or Valkey for `redis://` / `rediss://`. Every backend error surfaces as
`StateUnavailable`: callers deny the request that needed the state (fail closed).
"""
