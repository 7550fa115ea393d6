"""What verifying the user's token costs per request (issue 5 target: ≤ 0.15 ms at the median).

Serves a JWKS on loopback, signs access tokens (RS256 and ES256) the way a provider does, and
times what every request goes through: whether a key fetch is due, then `TokenChecker.claims`
(signature against the cached key, then iss, aud, exp, iat, sub). The keys are cached; the
result never is.

    .venv/bin/python bench/identity.py [--iterations 20000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from rich.console import Console
from rich.table import Table

from mcp_acp.identity.jwt_check import JwksCache, TokenChecker

ISSUER, AUDIENCE = "http://127.0.0.1", "mcp-acp-bench"
console = Console()


def _keys() -> dict[str, tuple[object, str]]:
    return {
        "rsa-1": (rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
        "ec-1": (ec.generate_private_key(ec.SECP256R1()), "ES256"),
    }


def _jwks(keys) -> bytes:
    entries = []
    for kid, (private, alg) in keys.items():
        algorithm = jwt.algorithms.RSAAlgorithm if alg == "RS256" else jwt.algorithms.ECAlgorithm
        jwk = json.loads(algorithm.to_jwk(private.public_key()))
        entries.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})
    return json.dumps({"keys": entries}).encode()


def _serve(body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _token(private, alg: str, kid: str) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "auth0|alice",
        "iat": now,
        "exp": now + 3600,
        "azp": "cli",
        "scope": "openid profile",
    }
    return jwt.encode(claims, private, algorithm=alg, headers={"kid": kid})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    keys = _keys()
    server = _serve(_jwks(keys))
    checker = TokenChecker(ISSUER, AUDIENCE, JwksCache(f"http://127.0.0.1:{server.server_port}/jwks.json"))
    rows = []
    for kid, (private, alg) in keys.items():
        token = _token(private, alg, kid)
        checker.claims(token)  # the first check fetches the JWKS; every later one uses the cache
        samples = []
        for _ in range(args.iterations):
            start = time.perf_counter_ns()
            # What the proxy does per request: is a key fetch due (off the event loop)? then the check.
            checker.jwks.fetch_due(checker.header(token).get("kid"))
            checker.claims(token)
            samples.append((time.perf_counter_ns() - start) / 1e6)
        samples.sort()
        rows.append(
            {
                "algorithm": alg,
                "median_ms": statistics.median(samples),
                "p95_ms": samples[int(len(samples) * 0.95)],
                "p99_ms": samples[int(len(samples) * 0.99)],
            }
        )
    server.shutdown()
    table = Table(
        "algorithm",
        "median ms",
        "p95 ms",
        "p99 ms",
        "target",
        title=f"token check per request, {args.iterations} checks",
        title_justify="left",
    )
    for row in rows:
        verdict = "≤ 0.15 ms met" if row["median_ms"] <= 0.15 else "[red]missed[/]"
        table.add_row(
            row["algorithm"], f"{row['median_ms']:.4f}", f"{row['p95_ms']:.4f}", f"{row['p99_ms']:.4f}", verdict
        )
    console.print(table)
    console.print(f"1-minute load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(
                {"rows": rows, "iterations": args.iterations, "load_average": os.getloadavg()[0]}, handle, indent=2
            )


if __name__ == "__main__":
    main()
