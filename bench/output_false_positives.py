"""How often output inspection fires on honest text (issue 22, docs/output-inspection.md).

Runs the detector (the built-in secret formats and the instruction rules, as the proxy runs them
on a result) over real-world text, file by file, each as one text content item: this repository's
src/ and docs/, and the sources of packages installed in the venv (httpx, starlette, pydantic by
default). Counts findings per kind and per MB, and prints a sample of what fired, with the match
shortened so the report itself holds no credential-looking text.

    .venv/bin/python bench/output_false_positives.py [--package NAME ...] [--samples 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
from pathlib import Path

from mcp_acp.proxy.output_scan import Settings

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = {".py", ".md", ".txt", ".rst", ".toml", ".json", ".yaml", ".yml", ".ts", ".tsx", ".js", ".css", ".html"}


def corpus_files(name: str) -> list[Path]:
    if name in ("src", "docs"):
        folder = ROOT / name
    else:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            return []
        folder = Path(next(iter(spec.submodule_search_locations)))
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in SUFFIXES and "static" not in p.parts)


def shown(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 12 else f"{text[:6]}…{text[-3:]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--package", action="append", default=None, help="installed packages to scan")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args()
    detector = Settings().detector
    rows = []
    for name in ["src", "docs", *(args.package or ["httpx", "starlette", "pydantic"])]:
        kinds: collections.Counter[str] = collections.Counter()
        samples: dict[str, list[str]] = collections.defaultdict(list)
        size = files = 0
        for path in corpus_files(name):
            text = path.read_text(encoding="utf-8", errors="replace")
            size += len(text.encode())
            files += 1
            for start, end, kind, _category in detector.spans(text):
                kinds[kind] += 1
                if len(samples[kind]) < args.samples:
                    samples[kind].append(f"{path.name}: {shown(text[start:end])}")
        megabytes = size / 1e6
        rows.append(
            {
                "corpus": name,
                "files": files,
                "mb": round(megabytes, 2),
                "findings": sum(kinds.values()),
                "per_mb": round(sum(kinds.values()) / megabytes, 1) if megabytes else 0.0,
                "kinds": dict(kinds.most_common()),
                "samples": dict(samples),
            }
        )
    print(f"{'corpus':<10} {'files':>6} {'MB':>6} {'found':>6} {'per MB':>7}  kinds")
    for row in rows:
        fired = ", ".join(f"{k} {n}" for k, n in row["kinds"].items())
        print(f"{row['corpus']:<10} {row['files']:>6} {row['mb']:>6} {row['findings']:>6} {row['per_mb']:>7}  {fired}")
    for row in rows:
        for kind, found in row["samples"].items():
            print(f"  {row['corpus']} {kind}: {'; '.join(found)}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
