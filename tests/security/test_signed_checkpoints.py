"""Attacks on a replica's log folder, caught by `mcp-acp audit verify --replica DIR --public-key
FILE` run on "another machine": a subprocess with an empty MCP_ACP_HOME (no secret store, no
config), given only copies of the log folders and the published public keys.

Two replicas (`r1`, `r2`) are real gateways (`mcp-acp serve`, each with its own home) in front of
the real fixture backend, called over streamable HTTP by the mcp SDK's Client, and stopped
cleanly (the final checkpoint). Each test copies their folders and attacks the copy.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mcp_acp.audit.chain import GENESIS, seal
from mcp_acp.audit.signed_checkpoint import FILE_NAME
from tests.security.conftest import Home
from tests.support.config import ECHO_ONLY_POLICY
from tests.support.gateway import GatewayProcess, gateway_client, write_gateway_config
from tests.support.processes import BACKEND, MCP_ACP

OPS = "audit/operations.jsonl"
REPLICAS = ("r1", "r2")


async def _calls(url: str, count: int) -> None:
    async with gateway_client(url, "legacy") as client:
        for i in range(count):
            if i == count - 1:
                await asyncio.sleep(0.5)  # r2's logs are older than their max age now: the next entry rotates them
            await client.call_tool("echo", {"text": f"call {i}"})


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """{replica: (its proxy log folder, its published public key)}, written by real gateways."""
    found = {}
    for replica in REPLICAS:
        home = Home(tmp_path_factory.mktemp(replica))
        # r2 seals its logs into segments (gzip-compressed) after a third of a second: the verify reads them too.
        rotation = {"log_rotation": {"max_age_hours": 0.0001}} if replica == "r2" else None
        home.add_proxy("files", sys.executable, [BACKEND], ECHO_ONLY_POLICY, config=rotation)
        write_gateway_config(
            home.env, {"replica_id": replica, "checkpoints": {"every_entries": 5, "every_seconds": 3600}}
        )
        with GatewayProcess(home.env, home.root / "gateway.log") as gateway:
            asyncio.run(_calls(gateway.endpoint("files"), 6))
        printed = home.cli("audit", "public-key").stdout
        public = home.acp_home / "logs" / "mcp-acp" / "replicas" / f"{replica}.pub"
        assert public.read_text() == printed  # the command prints what is published
        found[replica] = (home.log_dir("files"), public)
    return found


@pytest.fixture
def copied(replicas: dict[str, tuple[Path, Path]], tmp_path: Path) -> dict[str, tuple[Path, Path]]:
    """The auditor's machine: copies of each replica's log folder and public key."""
    out = {}
    for replica, (folder, public) in replicas.items():
        target = tmp_path / "audit" / replica
        shutil.copytree(folder, target / "files", ignore=shutil.ignore_patterns("*.lock", "*.sock"))
        shutil.copy(public, target / f"{replica}.pub")
        out[replica] = (target / "files", target / f"{replica}.pub")
    return out


def offline_verify(tmp_path: Path, pairs: list[tuple[Path, Path]], *extra: str) -> subprocess.CompletedProcess[str]:
    empty = tmp_path / "empty-home"
    empty.mkdir(exist_ok=True)
    env = {**os.environ, "MCP_ACP_HOME": str(empty), "HOME": str(empty), "NO_COLOR": "1", "COLUMNS": "200"}
    args = [arg for folder, key in pairs for arg in ("--replica", str(folder), "--public-key", str(key))]
    result = subprocess.run(
        [MCP_ACP, "audit", "verify", *args, *extra], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert not any(empty.iterdir()), "the offline verify wrote into its home"
    return result


def both(copied: dict[str, tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    return [copied[r] for r in REPLICAS]


def checkpoint_lines(folder: Path) -> list[bytes]:
    return (folder / FILE_NAME).read_bytes().splitlines(keepends=True)


def test_the_clean_replicas_pass_with_only_their_public_keys(copied: Any, tmp_path: Path) -> None:
    result = offline_verify(tmp_path, both(copied))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Verification passed for 2 replica(s)" in result.stdout
    folder, _ = copied["r1"]
    records = [json.loads(raw) for raw in checkpoint_lines(folder)]
    assert len(records) >= 2 and {r["replica"] for r in records} == {"r1"}
    assert records[-1]["heads"][OPS]["sequence"] == sum(1 for _ in (folder / OPS).open())  # the final checkpoint
    assert list((copied["r2"][0] / "audit" / "segments").glob("operations.*.jsonl*")), "r2 did not rotate"
    as_json = json.loads(offline_verify(tmp_path, both(copied), "--json").stdout)
    assert [r["ok"] for r in as_json["replicas"]] == [True, True]
    ops = next(f for f in as_json["replicas"][0]["proxies"][0]["files"] if f["file"] == OPS)
    assert ops["after_last_checkpoint"] == 0 and ops["keyed"] == ops["entries"] > 0  # keyed: pins and structure


def test_a_replica_without_its_key_cannot_be_verified(copied: Any, tmp_path: Path) -> None:
    folder, _ = copied["r1"]
    empty = tmp_path / "empty-home"
    empty.mkdir()
    result = subprocess.run(
        [MCP_ACP, "audit", "verify", "--replica", str(folder)],
        env={**os.environ, "MCP_ACP_HOME": str(empty), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2 and "one --public-key per --replica" in result.stderr


def test_an_altered_checkpoint_fails_its_signature(copied: Any, tmp_path: Path) -> None:
    folder, _ = copied["r1"]
    lines = checkpoint_lines(folder)
    record = json.loads(lines[0])
    next(iter(record["heads"].values()))["sequence"] -= 1
    lines[0] = json.dumps(record).encode() + b"\n"
    (folder / FILE_NAME).write_bytes(b"".join(lines))
    result = offline_verify(tmp_path, both(copied))
    assert result.returncode == 1
    assert "checkpoint 1 (line 1): the signature does not verify" in result.stdout, result.stdout


def test_checkpoints_signed_by_another_replicas_key_fail(copied: Any, tmp_path: Path) -> None:
    folder, _ = copied["r1"]
    _, other_key = copied["r2"]
    result = offline_verify(tmp_path, [(folder, other_key)])
    assert result.returncode == 1
    assert "signed by another key" in result.stdout, result.stdout


def test_a_log_truncated_behind_a_checkpoint_is_caught(copied: Any, tmp_path: Path) -> None:
    folder, _ = copied["r2"]
    lines = (folder / OPS).read_bytes().splitlines(keepends=True)
    (folder / OPS).write_bytes(b"".join(lines[:-2]))  # still a valid chain, just shorter
    result = offline_verify(tmp_path, both(copied))
    assert result.returncode == 1
    assert "TRUNCATED" in result.stdout and "entries were deleted behind a signed checkpoint" in result.stdout


def test_a_log_replaced_wholesale_by_a_fresh_valid_chain_is_caught(copied: Any, tmp_path: Path) -> None:
    folder, _ = copied["r1"]
    original = [json.loads(raw) for raw in (folder / OPS).read_bytes().splitlines()]
    previous, out = GENESIS, b""
    for entry in original:  # same length, recomputed hashes: a plain hash chain alone accepts it
        fields = {k: v for k, v in entry.items() if k not in ("sequence", "prev_hash", "entry_hash", "time")}
        fields["subject_id"] = "someone-else"
        sealed, line = seal(fields, entry["sequence"], previous, None)
        previous, out = sealed["entry_hash"], out + line
    (folder / OPS).write_bytes(out)
    result = offline_verify(tmp_path, both(copied))
    assert result.returncode == 1
    assert "REWRITTEN" in result.stdout and "hash mismatch" not in result.stdout, result.stdout


def test_a_checkpoint_removed_from_the_middle_is_caught(copied: Any, tmp_path: Path) -> None:
    folder, _ = copied["r2"]
    lines = checkpoint_lines(folder)
    assert len(lines) >= 3, "the replica wrote too few checkpoints for this attack"
    (folder / FILE_NAME).write_bytes(b"".join(lines[:1] + lines[2:]))
    result = offline_verify(tmp_path, both(copied))
    assert result.returncode == 1
    assert "expected checkpoint 2 here (checkpoints were removed" in result.stdout, result.stdout
