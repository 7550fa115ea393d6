"""The proxy's own work per request, stage by stage, in microseconds (in-process, no I/O wait).

Builds the real objects a proxy builds (hash-chained AuditLog, 100-rule policy engine,
Enforcer with the local identity, OperationsRecorder, Listing) in a temporary MCP_ACP_HOME and
times each step the relay runs for a `tools/call echo` and a `tools/list` of the test backend
(its real answers, recorded from tests/fixtures/backend.py), each step on its own and then the
whole request as the relay runs it (`Relay.from_client` + `Relay.from_backend`, with a backend
and a client that only take the bytes).

    .venv/bin/python bench/hotpath.py [--rounds 20000] [--json FILE]

Reports the median of several repeats of `rounds` runs, in µs per request. It measures CPU work
only: the pipe writes and the wake-ups of the other processes come on top (bench/overhead.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOME = tempfile.mkdtemp(prefix="mcp-acp-hotpath-")
os.environ["MCP_ACP_HOME"] = HOME  # before mcp_acp is imported: never the user's configuration

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_session import bench_session
from overhead import bench_rules

from mcp_acp import jsonrpc
from mcp_acp.policy.context import build_context
from mcp_acp.proxy.gate import Gate
from mcp_acp.proxy.relay import Relay
from mcp_acp.proxy.sanitizer import sanitize_tools_result

CALL = b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"ping"}}}\n'
LIST = b'{"jsonrpc":"2.0","id":8,"method":"tools/list","params":{}}\n'
BACKEND = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "backend.py"


def backend_answers() -> tuple[bytes, bytes]:
    """The test backend's real answers to CALL and LIST, as it writes them."""
    init = (
        b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
        b'"capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}\n'
        b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n'
    )
    proc = subprocess.Popen(
        [sys.executable, str(BACKEND)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    proc.stdin.write(init + CALL + LIST)
    proc.stdin.flush()
    answers = {}
    while len(answers) < 3:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the test backend stopped")
        answers[orjson.loads(line).get("id")] = line
    proc.stdin.close()
    proc.wait(10)
    return answers[7], answers[8]


class NullBackend:
    server_name, transport, reconnects = "bench", "stdio", False

    async def start(self, deliver, on_lost) -> None:
        return None

    async def send(self, message, raw) -> None:
        return None

    async def close(self) -> None:
        return None


def build():
    session = bench_session(Path(HOME), bench_rules(100))
    return session.inputs.audit, session.enforcer, session.recorder("stdio"), session.listing


def timed(fn, rounds: int, repeats: int) -> float:
    """Median over `repeats` of the mean µs per call of `rounds` calls."""
    results = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(rounds):
            fn()
        results.append((time.perf_counter() - start) / rounds * 1e6)
    return statistics.median(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args()
    CALL_ANSWER, LIST_ANSWER = backend_answers()
    audit, enforcer, recorder, listing = build()
    call, lst = orjson.loads(CALL), orjson.loads(LIST)
    call_answer, list_answer = orjson.loads(CALL_ANSWER), orjson.loads(LIST_ANSWER)
    ctx = build_context(call, enforcer.identity, "bench", session_id="s1", proxy_name="bench")
    described = recorder.describe(call)
    entry = enforcer.decisions.entry(ctx, enforcer.reloader.engine.evaluate(ctx), call, time.perf_counter())
    rounds, repeats = args.rounds, args.repeats
    sanitized = listing.tools(list_answer)

    stages = {
        "tools/call": [
            ("parse the request (orjson)", lambda: orjson.loads(CALL)),
            ("audit fields of the request (describe)", lambda: recorder.describe(call)),
            ("audit files still ours (admit: 2 stat)", lambda: recorder.admit(call)),
            (
                "decision context",
                lambda: build_context(call, enforcer.identity, "bench", session_id="s1", proxy_name="bench"),
            ),
            ("policy decision (100 rules)", lambda: enforcer.reloader.engine.evaluate(ctx)),
            (
                "decisions.jsonl entry fields",
                lambda: enforcer.decisions.entry(
                    ctx, enforcer.reloader.engine.evaluate(ctx), call, time.perf_counter()
                ),
            ),
            ("decisions.jsonl write (seal, write, state)", lambda: audit.write("decisions", entry)),
            ("whole gate check (identity .. decision written)", lambda: enforcer.check(call)),
            ("parse the backend's answer (orjson)", lambda: orjson.loads(CALL_ANSWER)),
            (
                "operations.jsonl entry (fields, seal, write, state)",
                lambda: recorder.record(described, call_answer, CALL_ANSWER, 1.0),
            ),
        ],
        "tools/list": [
            ("parse the request (orjson)", lambda: orjson.loads(LIST)),
            ("whole gate check (discovery bypass written)", lambda: enforcer.check(lst)),
            (
                "operations.jsonl entry (fields, seal, write, state)",
                lambda: recorder.record(recorder.describe(lst), list_answer, LIST_ANSWER, 1.0),
            ),
            ("parse the backend's answer (orjson)", lambda: orjson.loads(LIST_ANSWER)),
            (
                f"sanitize the tools ({len(list_answer['result']['tools'])} tools)",
                lambda: sanitize_tools_result(list_answer["result"]),
            ),
            ("list hook (sanitize + findings)", lambda: listing.tools(list_answer)),
            ("serialise the answer (orjson)", lambda: jsonrpc.encode(sanitized)),
        ],
    }
    report: dict[str, dict[str, float]] = {}
    for section, steps in stages.items():
        print(f"\n{section}")
        report[section] = {}
        for label, fn in steps:
            fn()
            us = timed(fn, rounds, repeats)
            report[section][label] = round(us, 2)
            print(f"  {us:8.2f} µs  {label}")

    # The whole request through the relay, as the proxy runs it (no pipes: a null backend and client).
    async def relay_rounds() -> dict[str, float]:
        written: list[bytes] = []

        async def to_client(data: bytes) -> None:
            written.append(data)

        gate = Gate(enforcer.check, enforcer.note_notification, listing.hooks())
        relay = Relay(NullBackend(), gate, to_client, recorder)
        out = {}
        for name, request, raw_answer in (("tools/call", CALL, CALL_ANSWER), ("tools/list", LIST, LIST_ANSWER)):
            results = []
            for _ in range(repeats):
                start = time.perf_counter()
                for _ in range(rounds // 2):
                    await relay.from_client(request)
                    await relay.from_backend(orjson.loads(raw_answer), raw_answer)
                results.append((time.perf_counter() - start) / (rounds // 2) * 1e6)
                written.clear()
            out[name] = statistics.median(results)
        return out

    whole = asyncio.run(relay_rounds())
    print("\nwhole request through the relay (from_client + backend answer parse + from_backend)")
    for name, us in whole.items():
        print(f"  {us:8.2f} µs  {name}")
    report["relay"] = {k: round(v, 2) for k, v in whole.items()}
    audit.close()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
