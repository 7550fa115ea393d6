"""What output inspection adds to a result, in process (issue 22, docs/performance.md).

For results of 10 KB, 100 KB and 1 MB, times the relay's inspection hook
(proxy/output_inspection.py `OutputInspector.result`) with inspection on (the default settings:
redact secrets, record instructions) and off (no `output` section: the hook returns at once),
best of many runs each (the machine is shared: noise only adds). Three shapes:

- `text`: one text content item of real prose (this repository's docs, repeated), whose examples
  of secret formats and prompt injections make the detector look closer (the slow path);
- `clean text`: the same prose without the lines that make it look closer (the fast path: the
  usual result);
- `records`: `structuredContent` with a list of small records (ids, names, e-mails, notes), the
  shape of a database query result: many short strings and keys;
- `text+secret`: the text shape with one AWS key in the middle, so the slow path (find, redact,
  copy, note) is timed too.

Results of 64 KB and more are inspected in a worker thread (asyncio.to_thread) by the proxy; the
thread hop is not included here, only the work.

    .venv/bin/python bench/output_inspection.py [--runs 50] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from mcp_acp.policy.model import parse_policy
from mcp_acp.proxy.output_inspection import OutputInspector
from mcp_acp.proxy.output_scan import Settings, _nothing_to_see, scan

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"10 KB": 10_000, "100 KB": 100_000, "1 MB": 1_000_000}


def prose(size: int, clean: bool = False) -> str:
    corpus = "\n".join(path.read_text(encoding="utf-8") for path in sorted((ROOT / "docs").glob("*.md")))
    if clean:
        detector = Settings().detector
        corpus = "\n".join(line for line in corpus.splitlines() if _nothing_to_see({"text": line}, detector))
    return (corpus * (size // len(corpus) + 1))[:size]


def shapes(size: int) -> dict[str, dict[str, Any]]:
    text = prose(size)
    records = []
    while len(json.dumps(records)) < size:
        i = len(records)
        records.append(
            {"id": i, "name": f"user {i}", "email": f"user{i}@example.com", "note": f"joined in {2000 + i % 25}"}
        )
    middle = len(text) // 2
    leaked = text[:middle] + " AKIA5ZN5ZB1MKC0HIBXH " + text[middle:]
    return {
        "text": {"content": [{"type": "text", "text": text}]},
        "clean text": {"content": [{"type": "text", "text": prose(size, clean=True)}]},
        "records": {"content": [{"type": "text", "text": "rows"}], "structuredContent": {"rows": records}},
        "text+secret": {"content": [{"type": "text", "text": leaked}]},
    }


def best_ms(run, runs: int) -> float:
    for _ in range(3):
        run()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times) * 1000  # best of the runs: the machine is shared, and noise only adds


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args()
    on = parse_policy({"output": {}}).output
    hook_on = OutputInspector(lambda: on)
    hook_off = OutputInspector(lambda: None)
    settings = Settings()
    rows = []
    for label, size in SIZES.items():
        for shape, result in shapes(size).items():
            answer = {"jsonrpc": "2.0", "id": 1, "result": result}
            runs = max(5, args.runs // (10 if size >= 1_000_000 else 1))
            off = best_ms(lambda a=answer: asyncio.run(hook_off.result("tools/call", a, 0)), runs)
            on_ms = best_ms(lambda a=answer: asyncio.run(hook_on.result("tools/call", a, 0)), runs)
            loop = best_ms(lambda: asyncio.run(asyncio.sleep(0)), runs)  # asyncio.run's own cost
            scan_ms = best_ms(lambda r=result: scan(r, settings), runs)
            findings = len(scan(result, settings).findings)
            rows.append(
                {
                    "size": label,
                    "shape": shape,
                    "bytes": len(json.dumps(result)),
                    "off_ms": round(max(off - loop, 0.0), 4),
                    "on_ms": round(max(on_ms - loop, 0.0), 4),
                    "scan_ms": round(scan_ms, 4),
                    "findings": findings,
                }
            )
    print(f"{'size':>7} {'shape':>12} {'bytes':>9} {'off ms':>8} {'on ms':>8} {'scan ms':>8} {'found':>6}")
    for row in rows:
        print(
            f"{row['size']:>7} {row['shape']:>12} {row['bytes']:>9} {row['off_ms']:>8.3f} "
            f"{row['on_ms']:>8.3f} {row['scan_ms']:>8.3f} {row['findings']:>6}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
