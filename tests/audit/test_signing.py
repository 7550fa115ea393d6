"""The replica's Ed25519 key: stored in the (file) secret store on first use, published as PEM,
and a signature that verifies under it and under no other key."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_acp import secret_store
from mcp_acp.audit import signing


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_ACP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MCP_ACP_SECRET_BACKEND", "file")


def test_the_key_is_created_once_and_kept_in_the_secret_store() -> None:
    first = signing.load_or_create("r1")
    assert secret_store.get(signing.secret_name("r1")) is not None
    again = signing.load_or_create("r1")
    assert again.key_id == first.key_id
    assert signing.load_or_create("r2").key_id != first.key_id


def test_the_published_key_verifies_its_signatures_and_no_other(tmp_path: Path) -> None:
    signer, other = signing.load_or_create("r1"), signing.load_or_create("r2")
    path = signing.publish(signer, tmp_path / "logs")
    assert path == tmp_path / "logs" / "replicas" / "r1.pub"
    assert path.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    public = signing.load_public_key(path)
    signature = signer.sign(b"heads")
    assert signing.valid(public, b"heads", signature)
    assert not signing.valid(public, b"heads!", signature)
    assert not signing.valid(public, b"heads", other.sign(b"heads"))
    assert not signing.valid(public, b"heads", "not base64!")


def test_a_damaged_key_or_a_file_that_is_not_a_key_is_refused(tmp_path: Path) -> None:
    secret_store.put(signing.secret_name("r1"), "AAAA")
    with pytest.raises(signing.SigningError, match="damaged"):
        signing.load_or_create("r1")
    junk = tmp_path / "junk.pub"
    junk.write_text("hello")
    with pytest.raises(signing.SigningError, match="not a PEM"):
        signing.load_public_key(junk)
