"""The unit tests mirror the code: the test of src/mcp_acp/<package>/<module>.py is
tests/<package>/test_<module>.py (a top-level module's is tests/test_<module>.py), so a newcomer
finds it by its path.

Both directions are checked. Every unit test file names a module that exists (a test left behind
when its module moves or is renamed fails here). Every module has its test file, or is listed
below with the reason it has none. Property tests may sit beside it as test_<module>_<topic>.py.
Process-level suites (integration, security, e2e) are grouped by feature and are not checked.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "mcp_acp"
TESTS = ROOT / "tests"
NOT_MIRRORS = {"integration", "security", "e2e", "fixtures", "support", "npm"}  # folders grouped by feature or job

PROCESSES = "exercised through real processes in tests/integration and tests/security"
NO_LOGIC = "constants, exceptions or wiring only"

# Modules without a unit test file of their own, and why (a package prefix ending in / covers it all).
WITHOUT_UNIT_TESTS = {
    "state/base.py": NO_LOGIC,
    "gateway/events.py": "the live stream across replicas (tests/integration/test_replicas.py)",
    "gateway/session_owners.py": "across replicas through real gateways (tests/integration/test_replicas.py)",
    "config/shared_state.py": "validated with gateway.json (tests/config/test_gateway.py)",
    "config/checkpoints.py": NO_LOGIC,
    "gateway/app.py": "the HTTP surface, through the running gateway (tests/integration/test_gateway*.py, tests/security/test_gateway_http.py)",
    "gateway/approvals.py": "through the running gateway (tests/integration/test_gateway_approvals.py)",
    "gateway/endpoint.py": "through the running gateway (tests/integration/test_gateway*.py)",
    "gateway/front.py": "both eras through the running gateway (tests/integration/test_gateway.py, test_conformance_gateway.py)",
    "gateway/status.py": "read through `mcp-acp status` against a running gateway (tests/integration/test_gateway.py)",
    "gateway/service.py": "`mcp-acp serve` as a subprocess (tests/integration/test_gateway*.py)",
    "cli/": "the command line is tested by running the real executable (tests/integration/test_cli.py ...)",
    "backends/": "tested against real backends (tests/integration/test_backend_trust.py, test_http_backend_client.py)",
    "demo/": "the demo is run whole by tests/integration/test_demo.py",
    "audit/auth_log.py": PROCESSES,
    "audit/checkpoint.py": "with rotation, in tests/audit/test_writer.py; attacks in tests/security/test_audit_attacks.py",
    "audit/emergency.py": PROCESSES,
    "audit/files.py": NO_LOGIC,
    "audit/history.py": "with rotation, in tests/audit/test_writer.py",
    "audit/keys.py": "used by every audit test; attacks in tests/security/test_key_differentials.py",
    "audit/log_api.py": NO_LOGIC,
    "audit/monitor.py": PROCESSES,
    "audit/opening.py": PROCESSES,
    "audit/repair.py": "with rotation, in tests/audit/test_writer.py; end to end in tests/integration/test_audit_cli.py",
    "audit/segments.py": "with rotation, in tests/audit/test_writer.py",
    "audit/shutdown.py": PROCESSES,
    "audit/state.py": "used by every audit test (tests/audit/test_verify.py, test_writer.py)",
    "audit/system_log.py": PROCESSES,
    "audit/trail.py": "with rotation, in tests/audit/test_writer.py",
    "admin/api_key.py": PROCESSES,
    "admin/archive_manifest.py": "with deletion, in tests/admin/test_deletion.py",
    "admin/archives.py": "with deletion, in tests/admin/test_deletion.py and tests/integration/test_proxy_delete.py",
    "admin/auth_status.py": "through the CLI and the manager, in tests/integration/test_identity.py",
    "admin/client_snippets.py": "the config snippet, in tests/manager/test_routes_proxies.py",
    "config/errors.py": NO_LOGIC,
    "admin/proxy_setup.py": "through the manager's router, in tests/manager/test_routes_proxies.py",
    "event_loop.py": NO_LOGIC,
    "jsonrpc.py": NO_LOGIC,
    "identity/jwt_check.py": "against a real OIDC provider, in tests/integration/test_identity.py",
    "identity/local.py": NO_LOGIC,
    "identity/oidc.py": "against a real OIDC provider, in tests/integration/test_identity.py",
    "identity/provider.py": "against a real OIDC provider, in tests/integration/test_identity.py",
    "identity/tokens.py": "against a real OIDC provider, in tests/integration/test_identity.py",
    "localhttp/server.py": "bind_private_socket, with where sockets go, in tests/config/test_paths.py",
    "localhttp/manager_client.py": PROCESSES,
    "manager/app.py": PROCESSES,
    "proxy/manager_link.py": "its refusal of a taken-over folder, in tests/config/test_private_dir.py; the rest "
    + PROCESSES,
    "manager/connections.py": PROCESSES,
    "localhttp/errors.py": NO_LOGIC,
    "localhttp/proxy_client.py": PROCESSES,
    "manager/http_limits.py": "tests/security/test_manager_slow_clients.py",
    "localhttp/manager_process.py": PROCESSES,
    "manager/registry.py": "used by the manager's unit tests (tests/manager/test_routes_proxies.py ...)",
    "manager/routes_config.py": "on a running manager, in tests/integration/test_manager_config_logs_routes.py",
    "manager/routes_deletion.py": "with deletion, in tests/admin/test_deletion.py",
    "manager/routes_logs.py": "on a running manager, in tests/integration/test_manager_config_logs_routes.py",
    "manager/routes_policy.py": "on a running manager, in tests/integration/test_manager_policy_routes.py",
    "manager/routes_policy_replay.py": "over a real proxy's log, in tests/integration/test_policy_replay.py",
    "manager/security.py": "tests/security/test_manager_origin.py",
    "manager/state.py": NO_LOGIC,
    "manager/tokens.py": PROCESSES,
    "policy/editor_schema.py": "on a running proxy, in tests/integration/test_policy_dry_run.py",
    "policy/policy_file.py": "through the config store, in tests/config/test_store.py",
    "policy/protected.py": "through the engine, in tests/policy/test_engine.py and test_engine_properties.py",
    "proxy/api_approvals.py": "on a running proxy, in tests/integration/test_approvals.py",
    "proxy/api_policy.py": "on a running proxy, in tests/integration/test_policy_dry_run.py",
    "proxy/caller_check.py": "with the enforcement point, in tests/proxy/test_enforcement.py and tests/integration/test_identity.py",
    "proxy/control.py": NO_LOGIC,
    "proxy/decision_log.py": "with the enforcement point, in tests/proxy/test_enforcement.py",
    "proxy/envelope.py": "tests/security/test_fuzz_envelopes.py",
    "proxy/events.py": NO_LOGIC,
    "proxy/gate.py": "with the enforcement point, in tests/proxy/test_enforcement.py",
    "proxy/relay_audit.py": PROCESSES,
    "proxy/operations.py": "with latency recording, in tests/metrics/test_latency.py; " + PROCESSES,
    "proxy/policy_reload.py": "through the control API, in tests/proxy/test_api.py",
    "proxy/relay.py": PROCESSES,
    "proxy/runner.py": PROCESSES,
    "proxy/serving.py": PROCESSES,
    "proxy/session.py": "builds every in-process proxy of the unit tests (tests/support/proxy_session.py); "
    + PROCESSES,
    "proxy/startup.py": "its refusals and exit codes, in tests/integration/test_cli.py and tests/security/test_audit_faults.py",
    "proxy/stdio_front.py": PROCESSES,
    "proxy/wire_log.py": PROCESSES,
}


def modules() -> list[str]:
    return sorted(
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py") and "web" not in path.relative_to(SRC).parts
    )


def mirror(module: str) -> Path:
    """tests/<package>/test_<module>.py for src/mcp_acp/<package>/<module>.py."""
    path = Path(module)
    return TESTS / path.parent / f"test_{path.name}"


def unit_test_files() -> list[Path]:
    return sorted(
        path
        for path in TESTS.rglob("test_*.py")
        if path.relative_to(TESTS).parts[0] not in NOT_MIRRORS and path != Path(__file__).resolve()
    )


def test_every_unit_test_file_names_a_module_that_exists():
    known = {mirror(module) for module in modules()}
    strays = [
        path.relative_to(ROOT).as_posix()
        for path in unit_test_files()
        if path not in known
        and not any(path.parent == mirror(m).parent and path.stem.startswith(mirror(m).stem + "_") for m in modules())
    ]
    assert not strays, f"unit test files that mirror no module in src/mcp_acp (move or rename them): {strays}"


def test_every_module_has_its_test_file_or_a_reason():
    def excused(module: str) -> bool:
        return module in WITHOUT_UNIT_TESTS or any(
            key.endswith("/") and module.startswith(key) for key in WITHOUT_UNIT_TESTS
        )

    missing = [module for module in modules() if not mirror(module).exists() and not excused(module)]
    assert not missing, (
        f"modules with no tests/<package>/test_<module>.py and no reason in WITHOUT_UNIT_TESTS: {missing}"
    )


def test_every_reason_still_names_a_module_without_a_test_file():
    """An entry for a module that moved, or that now has its test file, goes."""
    present = modules()
    stale = [
        key
        for key in WITHOUT_UNIT_TESTS
        if (key.endswith("/") and not any(module.startswith(key) for module in present))
        or (not key.endswith("/") and (key not in present or mirror(key).exists()))
    ]
    assert not stale, f"stale entries in WITHOUT_UNIT_TESTS: {stale}"
