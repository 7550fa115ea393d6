"""Event streams followed as a browser does: the manager's /api/events and a proxy's pending-approvals stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any, Self

import httpx

from tests.support.manager import ManagerHome

EVENT_TIMEOUT = 20.0  # generous: a cold proxy or manager on a loaded two-core CI box


class EventStream:
    """The manager's `GET /api/events`, followed as a browser does: every `data:` message, in order.

    async with EventStream(home) as events:
        await events.wait_for(lambda e: e["type"] == "proxy_registered", "a registration")
    """

    path = "/api/events"

    def __init__(self, home: ManagerHome | None, *, query_token: bool = False) -> None:
        self.home = home
        self.query_token = query_token
        self.events: list[dict] = []
        self.status_code: int | None = None
        self.ended = False
        self._task: asyncio.Task | None = None

    def opening(self, event: dict) -> bool:
        """The event that shows the subscription is live (the stream starts with it)."""
        return True

    def _client(self) -> tuple[httpx.AsyncClient, dict, dict]:
        """The client, headers and query parameters to follow the stream with."""
        token = self.home.token
        headers, params = ({}, {"token": token}) if self.query_token else ({"Authorization": f"Bearer {token}"}, {})
        client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.home.port}", trust_env=False, timeout=httpx.Timeout(30, read=None)
        )
        return client, headers, params

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._follow())
        await self.wait_for(self.opening, "the stream's opening events")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task

    async def _follow(self) -> None:
        client, headers, params = self._client()
        async with client, client.stream("GET", self.path, headers=headers, params=params) as response:
            self.status_code = response.status_code
            assert response.status_code == 200, (response.status_code, await response.aread())
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    self.events.append(json.loads(line[5:]))
        self.ended = True

    def of_type(self, event_type: str, proxy_name: str | None = None) -> list[dict]:
        return [
            event
            for event in self.events
            if event["type"] == event_type and (proxy_name is None or event.get("proxy_name") == proxy_name)
        ]

    async def wait_for(self, predicate: Callable[[dict], Any], what: str, timeout: float = EVENT_TIMEOUT) -> dict:
        """The first event (already received or still to come) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        while True:
            for event in list(self.events):
                if predicate(event):
                    return event
            if self._task.done():
                self._task.result()  # raises what ended it
                raise AssertionError(f"the event stream ended before {what}; got {self.events}")
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"timed out after {timeout:g} s waiting for {what}; got {[event['type'] for event in self.events]}"
                )
            await asyncio.sleep(0.05)


class ProxyEventStream(EventStream):
    """`GET /api/approvals/pending` on a proxy's Unix socket (what `mcp-acp approvals watch` and
    the manager-less UI follow): every `data:` message, in order."""

    path = "/api/approvals/pending"

    def __init__(self, socket_path: str) -> None:
        super().__init__(None)
        self.socket_path = socket_path

    def opening(self, event: dict) -> bool:
        return event["type"] == "stats_updated"

    def _client(self) -> tuple[httpx.AsyncClient, dict, dict]:
        client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=self.socket_path),
            base_url="http://proxy",
            trust_env=False,
            timeout=httpx.Timeout(30, read=None),
        )
        return client, {}, {}
