"""What information-flow labels add to a `tools/call` (issue 22: at most 0.05 ms), in process.

The same 100-rule policy (bench/overhead.py's), without and with the labels in play, through
the real Enforcer a proxy builds (bench/bench_session.py: the decision, its hash-chained entry
in decisions.jsonl) and through the engine alone (context + evaluate):

- off: the tool carries no label and no rule names one (`echo`);
- on: a labelled egress tool (`send_email`, labelled by the presets) under the trifecta rule
  (tool_labels egress, session_labels private_data + untrusted_content), in a session that
  touched private data: the rule is a candidate, its session_labels are checked, it does not
  match, the call is allowed and its labels are remembered.

    .venv/bin/python bench/labels.py [--rounds 20000] [--repeats 7] [--json FILE]

Reports the median over `repeats` of the mean per call of `rounds` calls, in µs, and the
difference (on - off). The audit write dominates the Enforcer figure; the engine figure shows
the labels' own work.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

HOME = tempfile.mkdtemp(prefix="mcp-acp-labels-")
os.environ["MCP_ACP_HOME"] = HOME  # before mcp_acp is imported: never the user's configuration

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_session import bench_session
from overhead import bench_rules

TRIFECTA = {
    "id": "trifecta",
    "effect": "hitl",
    "conditions": {"tool_labels": ["egress"], "session_labels": ["private_data", "untrusted_content"]},
}
ALLOW_MAIL = {"id": "mail", "effect": "allow", "conditions": {"tool_name": "send_email"}}


def message(tool: str, request_id: int) -> dict:
    arguments = {"text": "ping"} if tool == "echo" else {"to": "a@example.test", "text": "ping"}
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }


def timed(run: Callable[[int], object], rounds: int, repeats: int) -> float:
    """Median over `repeats` of the mean µs per call of `rounds` calls."""
    means = []
    for _ in range(repeats):
        started = time.perf_counter()
        for n in range(rounds):
            run(n)
        means.append((time.perf_counter() - started) / rounds * 1e6)
    return statistics.median(means)


def case(name: str, rules: list[dict], tool: str, touched: bool, rounds: int, repeats: int) -> dict[str, float]:
    session = bench_session(Path(HOME) / name, rules)
    enforcer = session.enforcer
    if touched:  # as if the session had read a private file before
        enforcer.labels.touch(frozenset({"private_data"}), "0", "read_file", "~/notes", datetime.now(UTC))
    engine = enforcer.reloader.engine

    def check(n: int) -> None:
        if enforcer.check(message(tool, n)) is not None:
            raise SystemExit(f"{name}: the call was not forwarded")

    def evaluate(n: int) -> None:
        ctx = enforcer._context(message(tool, n))
        if engine.evaluate(ctx).effect != "allow":
            raise SystemExit(f"{name}: the call was not allowed")
        engine.labels.of(tool)  # what a forwarded call looks up to remember its labels

    for run in (check, evaluate):  # warm the candidate and label caches
        run(0)
    return {"engine_us": timed(evaluate, rounds, repeats), "enforcer_us": timed(check, rounds, repeats)}


def main() -> None:
    parser = argparse.ArgumentParser(description="What information-flow labels add to a tools/call.")
    parser.add_argument("--rounds", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rules = bench_rules(100)
    off = case("off", [*rules, ALLOW_MAIL], "echo", False, args.rounds, args.repeats)
    on = case("on", [*rules, ALLOW_MAIL, TRIFECTA], "send_email", True, args.rounds, args.repeats)
    added = {key: on[key] - off[key] for key in off}
    print(f"tools/call, 100-rule policy, µs per call (median of {args.repeats} × {args.rounds}):")
    print(f"{'':24}{'labels off':>12}{'labels on':>12}{'added':>10}")
    for key, title in (("engine_us", "engine (context+eval)"), ("enforcer_us", "Enforcer.check (+audit)")):
        print(f"{title:24}{off[key]:12.2f}{on[key]:12.2f}{added[key]:10.2f}")
    limit_us = 50.0
    print(f"budget: {limit_us:.0f} µs (0.05 ms); labels add {max(added.values()):.2f} µs at most")
    if args.json:
        report = {"bench": "labels", "rounds": args.rounds, "off": off, "on": on, "added": added}
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
