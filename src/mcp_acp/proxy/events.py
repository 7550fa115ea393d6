"""What a proxy reports to the manager (docs/manager.md#the-proxy-connection): fire-and-forget events.

The session (proxy/session.py) owns the one bus. Parts of the proxy call `emit` with a name
from event_names.py; the proxy's own stream always follows, and the manager link
(proxy/manager_link.py) subscribes while it is connected. The proxy never waits on them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

Sink = Callable[[str, dict], None]


class ProxyEvents:
    def __init__(self) -> None:
        self.sinks: list[Sink] = []

    def emit(self, event_type: str, severity: str = "info", message: str | None = None, **data) -> None:
        """Never raises: an event that cannot be delivered must not disturb a request."""
        payload = {"severity": severity, "timestamp": datetime.now(UTC).isoformat(), **data}
        if message is not None:
            payload["message"] = message
        for sink in list(self.sinks):
            with contextlib.suppress(Exception):
                sink(event_type, payload)
