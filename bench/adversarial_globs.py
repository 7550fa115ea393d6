"""Worst-case policy matching: adversarial globs against adversarial inputs (issue 16, class 7).

For each glob that a backtracking engine handles badly, times one full match of inputs of
growing size twice: with the matcher the policy engine compiles (`globs.compile_any`: RE2 for
a glob with several `*` runs) and, as the baseline, with Python's backtracking `re`. The
baseline stops growing once a match takes over `--cap` seconds.

    .venv/bin/python bench/adversarial_globs.py [--cap 2.0] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from mcp_acp.policy import globs

CASES = [  # (glob, regex builder, flags, input of size n)
    ("**/**/**/**/**/**/*a*a*a*a*a*b", globs.path_regex, 0, lambda n: "/" + "/".join(["aaaaaaaa"] * n)),
    ("*a*a*a*a*a*a*a*a*b", globs.name_regex, re.IGNORECASE, lambda n: "a" * n),
]
SIZES = (10, 20, 40, 80, 160, 320, 640)


def seconds(fn, text: str) -> float:
    started = time.perf_counter()
    fn(text)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--cap", type=float, default=2.0, help="stop the baseline past this many seconds per match")
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args()
    rows = []
    for pattern, to_regex, flags, make in CASES:
        ours = globs.compile_any([pattern], to_regex, flags)
        backtracking = re.compile(f"(?:{to_regex(pattern)})", flags | re.DOTALL)
        baseline_done = False
        for size in SIZES:
            text = make(size)
            ours_ms = min(seconds(ours.fullmatch, text) for _ in range(5)) * 1000
            base_ms = None if baseline_done else seconds(backtracking.fullmatch, text) * 1000
            baseline_done = baseline_done or (base_ms is not None and base_ms > args.cap * 1000)
            rows.append(
                {
                    "glob": pattern,
                    "input_chars": len(text),
                    "engine": type(ours).__module__,
                    "ms": round(ours_ms, 4),
                    "backtracking_ms": None if base_ms is None else round(base_ms, 3),
                }
            )
            shown = "(stopped)" if base_ms is None else f"{base_ms:12.3f}"
            print(
                f"{pattern:34} {len(text):7,} chars  {type(ours).__module__:4} {ours_ms:9.4f} ms"
                f"   backtracking re {shown} ms"
            )
    worst = max(row["ms"] for row in rows)
    print(f"worst match with the policy engine's matcher: {worst:.4f} ms")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "worst_ms": worst}, indent=2))


if __name__ == "__main__":
    main()
