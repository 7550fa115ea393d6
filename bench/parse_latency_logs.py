"""Latency as the audit logs recorded it: policy evaluation, approval wait and per-request duration.

Reads a proxy's `decisions.jsonl` (and, optionally, its `operations.jsonl`) and summarises the
timings the proxy wrote into every entry (docs/audit.md#what-the-main-entries-hold, docs/performance.md#reading-latency-from-the-audit-logs). Nothing is measured here: these
are the numbers of real sessions, so they include whatever the machine was doing at the time.

  decisions.jsonl    policy_eval_ms   time to decide, for every policy-evaluated request
                     policy_hitl_ms   time waiting for the user, HITL decisions only (a cached
                                      approval is recorded as 0.0 and counted)
                     policy_total_ms  eval + hitl
                     Discovery requests (initialize, tools/list, ...; final_rule
                     "discovery_bypass") are not policy-evaluated: they get their own table.
  operations.jsonl   duration_ms      the whole request through the proxy, overall and per method
                                      (notifications have no duration and are left out)

Lines that are not JSON objects are skipped and counted; the hash-chain fields are ignored.

    .venv/bin/python bench/parse_latency_logs.py DECISIONS [OPERATIONS] [--date YYYY-MM-DD]
        [--by-decision] [--exclude-hitl] [--output FILE]

  --date          keep only entries of that UTC day
  --by-decision   also break the policy timings down by decision (allow / deny / hitl)
  --exclude-hitl  leave HITL decisions out of policy_eval_ms and policy_total_ms
  --output FILE   also write the statistics as JSON (no raw samples)

Exit status: 0, or 2 when a file is missing or the decisions file has no usable entries.
See docs/performance.md ("Reading latency from the audit logs").
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console()
if not console.is_terminal:
    console.width = 120  # piped or redirected: keep the tables readable
errors = Console(stderr=True, soft_wrap=True)  # one line per message, however long the path

DISCOVERY_RULE = "discovery_bypass"
DECISIONS = ("allow", "deny", "hitl")
POLICY_METRICS = ("policy_eval_ms", "policy_hitl_ms", "policy_total_ms")
STAT_KEYS = ("count", "median", "mean", "stdev", "min", "max", "p95")


class UsageError(Exception):
    """A problem with the input the user can fix; reported in one line, exit 2."""


# --- reading --------------------------------------------------------------------------------


def read_entries(path: Path, day: date | None) -> tuple[list[dict], int]:
    """The JSON objects of a JSONL file (of `day`, if given) and the number of invalid lines."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    entries, invalid = [], 0
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                invalid += 1
                continue
            if not isinstance(entry, dict):
                invalid += 1
                continue
            if day is None or utc_day(entry.get("time")) == day:
                entries.append(entry)
    return entries, invalid


def utc_day(value: object) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date()


def number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def duration_ms(entry: dict) -> float | None:
    """operations.jsonl nests it (`duration: {duration_ms}`); a flat `duration_ms` is accepted too."""
    duration = entry.get("duration")
    if isinstance(duration, dict):
        return number(duration.get("duration_ms"))
    return number(entry.get("duration_ms"))


# --- statistics -----------------------------------------------------------------------------


def stats(samples: list[float]) -> dict:
    """count, median (p50), mean, sample std dev, min, max, p95 (nearest rank), in ms to 3 dp."""
    if not samples:
        return {"count": 0} | {key: None for key in STAT_KEYS[1:]}
    ordered = sorted(samples)
    p95 = ordered[math.ceil(0.95 * len(ordered)) - 1]
    values = (
        statistics.median(ordered),
        statistics.fmean(ordered),
        statistics.stdev(ordered) if len(ordered) > 1 else 0.0,
        ordered[0],
        ordered[-1],
        p95,
    )
    return {"count": len(ordered)} | {key: round(v, 3) for key, v in zip(STAT_KEYS[1:], values, strict=True)}


def samples_of(entries: list[dict], metric: str) -> list[float]:
    return [v for v in (number(e.get(metric)) for e in entries) if v is not None]


def policy_stats(entries: list[dict], exclude_hitl: bool) -> dict:
    """The three policy timings of policy-evaluated entries (the HITL wait from HITL decisions only)."""
    counted = [e for e in entries if e.get("decision") != "hitl"] if exclude_hitl else entries
    return {
        "policy_eval_ms": stats(samples_of(counted, "policy_eval_ms")),
        "policy_hitl_ms": stats(samples_of([e for e in entries if e.get("decision") == "hitl"], "policy_hitl_ms")),
        "policy_total_ms": stats(samples_of(counted, "policy_total_ms")),
    }


def summarise(decisions: list[dict], operations: list[dict] | None, args: argparse.Namespace) -> dict:
    decisions = [e for e in decisions if "decision" in e]
    discovery = [e for e in decisions if e.get("final_rule") == DISCOVERY_RULE]
    evaluated = [e for e in decisions if e.get("final_rule") != DISCOVERY_RULE]
    report: dict = {
        "entries": {
            "decisions": len(decisions),
            "policy_evaluated": len(evaluated),
            "discovery": len(discovery),
            "by_decision": {d: sum(e.get("decision") == d for e in evaluated) for d in DECISIONS},
        },
        "policy": policy_stats(evaluated, args.exclude_hitl),
        "discovery": {"policy_eval_ms": stats(samples_of(discovery, "policy_eval_ms"))},
    }
    if args.by_decision:
        groups = [d for d in DECISIONS if not (args.exclude_hitl and d == "hitl")]
        report["by_decision"] = {
            d: policy_stats([e for e in evaluated if e.get("decision") == d], False) for d in groups
        }
    if operations is not None:
        timed = [(e.get("method") or "?", duration_ms(e)) for e in operations]
        timed = [(method, ms) for method, ms in timed if ms is not None]
        report["entries"]["operations"] = len(operations)
        report["operations"] = {
            "duration_ms": stats([ms for _, ms in timed]),
            "by_method": {
                method: stats([ms for m, ms in timed if m == method]) for method in sorted({m for m, _ in timed})
            },
        }
    return report


# --- output ---------------------------------------------------------------------------------


def stats_table(title: str, rows: list[tuple[str, str, dict]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("metric", "group", "count", "median ms", "mean ms", "std dev ms", "min ms", "max ms", "p95 ms"):
        table.add_column(column, justify="left" if column in ("metric", "group") else "right")
    for metric, group, row in rows:
        cells = [f"{row[key]:,.3f}" if row[key] is not None else "-" for key in STAT_KEYS[1:]]
        table.add_row(metric, group, f"{row['count']:,}", *cells)
    return table


def show(report: dict) -> None:
    entries = report["entries"]
    hitl_note = ", HITL excluded from eval/total" if report["exclude_hitl"] else ""
    rows = [(metric, "all", row) for metric, row in report["policy"].items()]
    for decision, group in report.get("by_decision", {}).items():
        rows += [(metric, decision, row) for metric, row in group.items() if row["count"] or metric != "policy_hitl_ms"]
    by = ", ".join(f"{d} {n}" for d, n in entries["by_decision"].items())
    console.print(stats_table(f"Policy decisions: {entries['policy_evaluated']} evaluated ({by}){hitl_note}", rows))
    console.print(
        stats_table(
            f"Discovery (not policy-evaluated, final_rule {DISCOVERY_RULE}): {entries['discovery']} entries",
            [("policy_eval_ms", "discovery", report["discovery"]["policy_eval_ms"])],
        )
    )
    if "operations" in report:
        operations = report["operations"]
        rows = [("duration_ms", "all", operations["duration_ms"])]
        rows += [("duration_ms", method, row) for method, row in operations["by_method"].items()]
        console.print(
            stats_table(
                f"Requests through the proxy (operations.jsonl): {entries['operations']} entries, "
                f"{operations['duration_ms']['count']} with a duration",
                rows,
            )
        )
    for kind, count in report["invalid_lines"].items():
        if count:
            errors.print(f"[yellow]skipped {count} invalid line(s) in {report[kind + '_file']}[/]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("decisions", type=Path, help="a proxy's audit/decisions.jsonl")
    parser.add_argument("operations", type=Path, nargs="?", help="the same proxy's audit/operations.jsonl")
    parser.add_argument("--date", type=date.fromisoformat, metavar="YYYY-MM-DD", help="keep only this UTC day")
    parser.add_argument("--by-decision", action="store_true", help="also group by decision (allow/deny/hitl)")
    parser.add_argument(
        "--exclude-hitl", action="store_true", help="leave HITL decisions out of policy_eval_ms and policy_total_ms"
    )
    parser.add_argument("--output", "--json", type=Path, metavar="FILE", help="also write the statistics as JSON")
    args = parser.parse_args(argv)

    try:
        decisions, bad_decisions = read_entries(args.decisions, args.date)
        operations, bad_operations = read_entries(args.operations, args.date) if args.operations else (None, 0)
        if not any("decision" in e for e in decisions):
            day = f" on {args.date}" if args.date else ""
            raise UsageError(f"{args.decisions}: no decision entries{day} ({bad_decisions} invalid line(s))")
    except UsageError as error:
        errors.print(f"[red]error:[/] {error}")
        return 2

    report = {
        "decisions_file": str(args.decisions),
        "operations_file": str(args.operations) if args.operations else None,
        "date": args.date.isoformat() if args.date else None,
        "exclude_hitl": args.exclude_hitl,
        "invalid_lines": {"decisions": bad_decisions} | ({"operations": bad_operations} if args.operations else {}),
    } | summarise(decisions, operations, args)
    show(report)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        console.print(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
