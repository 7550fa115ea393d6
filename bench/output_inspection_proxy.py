"""Output inspection through a real proxy (issue 22, docs/performance.md): a tool result of 10 KB,
100 KB and 1 MB through `mcp-acp start --proxy` subprocesses in front of
tests/fixtures/secrets_server.py (its `big` tool: plain prose, nothing to find), one proxy with
`"output": {}` and one without, side by side. Median round trip of raw JSON-RPC calls per size.

    .venv/bin/python bench/output_inspection_proxy.py [--calls 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.security.conftest import FIXTURES, Home  # the test suite's process helpers

ALLOW = [{"id": "all", "effect": "allow", "conditions": {"mcp_method": "*"}}]
SIZES = {"10 KB": 10_000, "100 KB": 100_000, "1 MB": 1_000_000}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Home(Path(folder))
        try:
            server: list[str | Path] = [FIXTURES / "secrets_server.py"]
            home.add_proxy("on", sys.executable, server, {"rules": ALLOW, "output": {}}, server_name="secrets")
            home.add_proxy("off", sys.executable, server, {"rules": ALLOW}, server_name="secrets")
            proxies = {name: home.start(name) for name in ("off", "on")}
            print(f"{'size':>7} {'off ms':>8} {'on ms':>8} {'added ms':>9}")
            for label, size in SIZES.items():
                medians = {}
                for name, proxy in proxies.items():
                    for _ in range(3):
                        proxy.call("big", {"size": size})
                    times = []
                    for _ in range(args.calls):
                        started = time.perf_counter()
                        answer = proxy.call("big", {"size": size})
                        times.append(time.perf_counter() - started)
                        assert "result" in answer, answer
                    medians[name] = statistics.median(times) * 1000
                added = medians["on"] - medians["off"]
                print(f"{label:>7} {medians['off']:>8.2f} {medians['on']:>8.2f} {added:>9.2f}")
        finally:
            home.close()


if __name__ == "__main__":
    main()
