"""Running a long-lived async main: the proxy's and the manager's."""

from __future__ import annotations

import asyncio


def run_event_loop(main) -> int:
    """uvloop where it exists: it halves the event loop's share of every relayed message."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
