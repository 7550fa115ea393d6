"""What information-flow labels add to a `tools/call` (issue 22: at most 0.05 ms), in process.

The same 100-rule policy (bench/overhead.py's), without and with the labels in play, through
the real Enforcer a proxy builds (bench/bench_session.py: the decision, its hash-chained entry
in decisions.jsonl) and through the engine alone (context + evaluate):

- off: the same call with no label in play: the presets off, no rule names a label;
- on: `send_email` labelled egress (by the presets) under the trifecta rule
  (tool_labels egress, session_labels private_data + untrusted_content), in a session that
  touched private data: the rule is a candidate, its session_labels are checked, it does not
  match, the call is allowed and its labels are remembered.

    .venv/bin/python bench/labels.py [--rounds 2000] [--repeats 25] [--json FILE]

Off and on run interleaved, `repeats` times `rounds` calls each; reports the median of the
means per call, in µs, and the median of the per-repeat differences (on - off). The audit write dominates the Enforcer figure; the engine figure shows
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

from mcp_acp.policy.engine import PolicyEngine
from mcp_acp.policy.model import parse_policy

TRIFECTA = {
    "id": "trifecta",
    "effect": "hitl",
    "conditions": {"tool_labels": ["egress"], "session_labels": ["private_data", "untrusted_content"]},
}
KEYS = ("own_us", "engine_us", "enforcer_us")
TOOL = "send_email"  # egress, by the presets
ALLOW_MAIL = {"id": "mail", "effect": "allow", "conditions": {"tool_name": "send_email"}}


def message(request_id: int) -> dict:
    arguments = {"to": "a@example.test", "text": "ping"}
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": TOOL, "arguments": arguments},
    }


def mean_us(run: Callable[[int], object], rounds: int) -> float:
    started = time.perf_counter()
    for n in range(rounds):
        run(n)
    return (time.perf_counter() - started) / rounds * 1e6


def steps(name: str, rules: list[dict], labels: bool) -> dict[str, Callable[[int], object]]:
    """The two things timed for one case, on a proxy session of its own, warmed up. Without
    labels, the presets are off, so `send_email` carries none and the session touches none."""
    session = bench_session(Path(HOME) / name, rules)
    enforcer = session.enforcer
    touched = labels
    if not labels:
        policy = parse_policy({"rules": rules, "labels": {"presets": False}})
        enforcer.reloader.engine = PolicyEngine(policy, enforcer.reloader.engine.protected)
    if touched:  # as if the session had read a private file before
        enforcer.labels.touch(frozenset({"private_data"}), "0", "read_file", "~/notes", datetime.now(UTC))
    engine = enforcer.reloader.engine

    def check(n: int) -> None:
        if enforcer.check(message(n)) is not None:
            raise SystemExit(f"{name}: the call was not forwarded")

    def evaluate(n: int) -> None:
        ctx = enforcer._context(message(n))  # the enforcer's own step, timed alone
        if engine.evaluate(ctx).effect != "allow":
            raise SystemExit(f"{name}: the call was not allowed")
        engine.labels.of(TOOL)  # what a forwarded call looks up to remember its labels

    memory, now = enforcer.labels, datetime.now(UTC)

    def own(n: int) -> None:
        """The label work a forwarded call adds, alone: the session's labels into its context,
        the tool's labels looked up, and remembered."""
        if memory.touched is not None:
            memory.touch(engine.labels.of(TOOL), str(n), TOOL, None, now)

    for run in (check, evaluate, own):  # warm the candidate and label caches
        run(0)
    return {"engine_us": evaluate, "enforcer_us": check, "own_us": own}


def measure(rounds: int, repeats: int) -> dict[str, dict[str, float]]:
    """Off and on interleaved, repeat by repeat, so a neighbour's load falls on both alike; the
    median of each, and the median of the per-repeat differences."""
    rules = bench_rules(100)
    cases = {
        "off": steps("off", [*rules, ALLOW_MAIL], labels=False),
        "on": steps("on", [*rules, ALLOW_MAIL, TRIFECTA], labels=True),
    }
    samples: dict[str, dict[str, list[float]]] = {c: {k: [] for k in KEYS} for c in cases}
    for _ in range(repeats):
        for key in KEYS:
            for case in ("off", "on"):
                samples[case][key].append(mean_us(cases[case][key], rounds))
    report = {case: {k: statistics.median(v) for k, v in by_key.items()} for case, by_key in samples.items()}
    report["added"] = {
        key: statistics.median(on - off for off, on in zip(samples["off"][key], samples["on"][key], strict=True))
        for key in KEYS
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description="What information-flow labels add to a tools/call.")
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report = measure(args.rounds, args.repeats)
    off, on, added = report["off"], report["on"], report["added"]
    print(f"tools/call, 100-rule policy, µs per call (median of {args.repeats} × {args.rounds}):")
    print(f"{'':24}{'labels off':>12}{'labels on':>12}{'added':>10}")
    for key, title in (
        ("own_us", "the label steps alone"),
        ("engine_us", "engine (context+eval)"),
        ("enforcer_us", "Enforcer.check (+audit)"),
    ):
        print(f"{title:24}{off[key]:12.2f}{on[key]:12.2f}{added[key]:10.2f}")
    limit_us = 50.0
    print(f"budget: {limit_us:.0f} µs (0.05 ms); labels add {max(added.values()):.2f} µs at most")
    if args.json:
        report = {"bench": "labels", "rounds": args.rounds, "off": off, "on": on, "added": added}
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
