"""deploy/ is checked by the tools that will run it: haproxy -c, rsyslogd -N1, docker compose
config (when the compose plugin is installed; it parses without pulling), and gateway.json
against the gateway's own config model. The Kubernetes manifests parse and name what they are."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mcp_acp.config.gateway import GatewayConfig
from tests.support.processes import ROOT

DEPLOY = ROOT / "deploy"


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=DEPLOY)


def installed(name: str, fallback: str, package: str) -> str:
    """The tool's path; missing, the test fails saying what to install (`make test` installs it)."""
    path = shutil.which(name) or fallback
    if not Path(path).is_file():
        pytest.fail(f"{name} is missing: install {package} (Debian: apt-get install {package}; `make test` does)")
    return path


def test_haproxy_accepts_its_config() -> None:
    haproxy = installed("haproxy", "/usr/sbin/haproxy", "haproxy")
    result = run(haproxy, "-c", "-f", str(DEPLOY / "haproxy.cfg"))
    assert result.returncode == 0, result.stdout + result.stderr
    # Off Docker the replicas' names do not resolve (a warning); nothing else may be wrong.
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if ("WARNING" in line or "ALERT" in line) and "could not resolve address" not in line
    ]
    assert problems == []


def test_haproxy_routes_2025_sessions_to_their_owner_and_checks_health() -> None:
    config = (DEPLOY / "haproxy.cfg").read_text()
    for rule in (
        "balance roundrobin",
        "stick store-response res.hdr(Mcp-Session-Id)",
        "stick match req.hdr(Mcp-Session-Id)",
        "option httpchk GET /healthz",
        "timeout tunnel 1h",
    ):
        assert rule in config


def test_rsyslog_accepts_its_config() -> None:
    rsyslogd = installed("rsyslogd", "/usr/sbin/rsyslogd", "rsyslog")
    result = run(rsyslogd, "-N1", "-f", str(DEPLOY / "rsyslog.conf"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in (result.stdout + result.stderr).lower()


def test_compose_file_is_valid() -> None:
    docker = shutil.which("docker")
    if docker is None or run(docker, "compose", "version").returncode != 0:
        pytest.skip("the docker compose plugin is not installed here")
    result = run(docker, "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_compose_file_runs_three_replicas_behind_haproxy_with_state_and_syslog() -> None:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert {"gw-1", "gw-2", "gw-3", "redis", "haproxy", "rsyslog"} <= set(services)
    for name in ("gw-1", "gw-2", "gw-3"):
        assert services[name]["hostname"] == name  # the replica id
        assert "/healthz" in " ".join(services[name]["healthcheck"]["test"])
        assert any(volume.endswith(":/etc/mcp-acp/gateway.json:ro") for volume in services[name]["volumes"])


def gateway_settings() -> dict:
    return json.loads((DEPLOY / "gateway.json").read_text())


def test_gateway_json_is_accepted_by_the_gateway() -> None:
    config = GatewayConfig.model_validate(gateway_settings())  # every key, export included
    assert config.state.url == "redis://redis:6379/0"
    assert config.replica_id is None  # each replica is named by its host name
    assert config.auth is not None and config.public_url is not None and config.public_url.startswith("https://")


def rsyslog_tcp_port() -> int:
    (port,) = re.findall(r'input\(type="imtcp" port="(\d+)"', (DEPLOY / "rsyslog.conf").read_text())
    return int(port)


def test_gateway_json_exports_to_the_rsyslog_service_on_the_port_it_listens_on() -> None:
    export = GatewayConfig.model_validate(gateway_settings()).export
    assert export is not None and export.syslog is not None
    assert export.syslog.host == "rsyslog"  # the compose service
    assert export.syslog.port == rsyslog_tcp_port()
    # rsyslog.conf listens in plain TCP (its TLS driver is commented out): no TLS on this leg either.
    active = [line for line in (DEPLOY / "rsyslog.conf").read_text().splitlines() if not line.lstrip().startswith("#")]
    assert not any("gtls" in line for line in active)
    assert export.syslog.tls is None
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert "rsyslog" in services


def manifests() -> list[tuple[str, dict]]:
    return [
        (path.name, document)
        for path in sorted((DEPLOY / "kubernetes").glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document is not None
    ]


def test_kubernetes_manifests_parse_and_name_what_they_are() -> None:
    found = manifests()
    for name, document in found:
        assert {"apiVersion", "kind", "metadata"} <= set(document), name
        assert document["metadata"].get("name"), name
    kinds = {document["kind"] for _, document in found}
    assert {"StatefulSet", "Service", "ConfigMap", "Secret", "PodDisruptionBudget"} <= kinds


def test_kubernetes_replicas_are_probed_on_healthz_and_get_gateway_json() -> None:
    (statefulset,) = [document for _, document in manifests() if document["kind"] == "StatefulSet"]
    assert statefulset["spec"]["replicas"] == 3
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
    (configmap,) = [d for _, d in manifests() if d["kind"] == "ConfigMap" and "gateway.json" in d.get("data", {})]
    settings = json.loads(configmap["data"]["gateway.json"])
    settings["state"]["url"] = settings["state"]["url"].replace("${REDIS_PASSWORD}", "secret")
    config = GatewayConfig.model_validate(settings)  # every key, export included
    # Off the Compose network both legs use TLS, checked against the CA the pods mount.
    assert config.state.url is not None and config.state.url.startswith("rediss://:secret@")
    assert config.export is not None and config.export.syslog is not None and config.export.syslog.tls is not None
    (ca_mount,) = [m for m in container["volumeMounts"] if m["name"] == "ca"]
    assert config.export.syslog.tls.ca_file.startswith(ca_mount["mountPath"] + "/")
    assert f"ssl_ca_certs={config.export.syslog.tls.ca_file}" in config.state.url
