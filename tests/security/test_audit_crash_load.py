"""Crash safety under load, kept while the audit trail grows its defences (issue 16): SIGKILL the
proxy 100 times with several tools/call in flight, at a random moment each time, restart it every
time, and check that

- no restart is refused and no clean disconnect fails (no false alarm), and `audit verify
  --json` passes at the end, on keyed and unkeyed trails alike;
- every call whose answer the client read has exactly one operations entry (by request id) and a
  decision (no lost entry, no entry written twice).

The campaign is bench/audit_crash.py's (which runs 240 kills with 8 workers by default and prints
a table); tests/integration/test_audit_crash.py is the unkeyed version it grew from. Seed:
MCP_ACP_CRASH_SEED (printed on failure).

The proxies stand in front of tests/fixtures/quick_backend.py, a stdlib MCP server: what is under
test is the proxy's trail, and the FastMCP backend's start-up (~1.5 s of CPU) would otherwise be
most of what 100 restarts cost.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from bench.audit_crash import campaign
from tests.security.conftest import QUICK_BACKEND

KILLS = 100
LANES = 4  # proxies killed in parallel, each with its own log folder
KEYED_LANES = 2  # half of them with an audit key (HMAC chain, signed state)
WORKERS = 4  # concurrent tools/call in flight per proxy
MAX_KILL_MS = 150  # the kill lands within this long of the load starting
TIME_BUDGET_S = 420  # no new iteration after this; ~60 s on an idle two-core box


@pytest.mark.timeout(600)
async def test_kill_9_under_load_100_times_no_false_alarm_no_lost_entry(tmp_path: Path) -> None:
    seed = int(os.environ.get("MCP_ACP_CRASH_SEED", random.randrange(2**32)))
    report = await campaign(
        tmp_path,
        kills=KILLS,
        lanes=LANES,
        keyed_lanes=KEYED_LANES,
        workers=WORKERS,
        max_kill_ms=MAX_KILL_MS,
        seed=seed,
        time_budget_s=TIME_BUDGET_S,
        backend=str(QUICK_BACKEND),
    )
    print(report.summary())
    problems = report.problems()
    assert not problems, f"{report.summary()}\n" + "\n".join(problems)
    assert report.kills >= KILLS
    assert all(lane.startup_kills for lane in report.lanes), report.summary()  # start-up was hit too
