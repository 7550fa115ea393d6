"""`mcp-acp policy test` and `mcp-acp policy replay` (docs/cli.md#mcp-acp-policy-, docs/policies.md#testing-a-policy-and-previewing-a-change).

`test` runs a test file's cases against a policy, like `opa test`: exit 0 when all pass, 1 when
any fails, 2 when the test file or the policy cannot be used. `replay` re-decides a proxy's
recorded requests under a candidate policy and reports what would change.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.markup import escape

from mcp_acp.audit.policy_replay import replay, since_time
from mcp_acp.cli.output import console, fail, terminal_safe
from mcp_acp.config import paths
from mcp_acp.config.store import ConfigError, load_manager_config, load_proxy_config
from mcp_acp.policy.cases import BadTestFile, CaseResult, Server, parse_test_file, run_cases
from mcp_acp.policy.engine import PolicyEngine
from mcp_acp.policy.policy_file import read_policy
from mcp_acp.policy.protected import ProtectedPaths
from mcp_acp.policy.roots import server_roots

BAD_INPUT = 2  # the test file or the policy cannot be used


def engine_for(policy_path: Path) -> PolicyEngine:
    """The policy in `policy_path`, compiled with the folders every proxy protects (as at start)."""
    policy, _ = read_policy(policy_path)
    # Before `mcp-acp init` (a CI job testing a policy file) the log folder is the default one.
    exists = paths.manager_config_path().exists()
    log_root = load_manager_config().log_path if exists else paths.default_log_dir()
    return PolicyEngine(
        policy, ProtectedPaths([paths.config_dir(), paths.product_log_root(log_root), paths.runtime_dir()])
    )


def _bad(message: str, as_json: bool, problems: list[str] | None = None) -> None:
    if as_json:
        click.echo(json.dumps({"error": message, "problems": problems or []}, indent=2))
        raise SystemExit(BAD_INPUT)
    fail(message + "".join(f"\n  • {problem}" for problem in problems or []), BAD_INPUT)


@click.command("test")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False, path_type=Path), help="The policy to test.")
@click.option("--proxy", "-p", "name", help="Test this proxy's policy (and use its server name and roots).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def test_command(file: Path, policy_file: Path | None, name: str | None, as_json: bool) -> None:
    """Run the test cases in FILE against a policy: exit 0 all pass, 1 any fails, 2 a bad file."""
    if policy_file and name:
        _bad("give either --policy or --proxy, not both", as_json)
    try:
        tests = parse_test_file(file.read_text(encoding="utf-8"))
    except OSError as exc:
        return _bad(f"cannot read the test file {file}: {exc.strerror}", as_json)
    except UnicodeDecodeError:
        return _bad(f"the test file {file} is not UTF-8 text", as_json)
    except BadTestFile as exc:
        return _bad(f"{file} is not a valid test file", as_json, exc.problems)
    server = Server()
    try:
        if name:
            config = load_proxy_config(name)
            policy_path = paths.proxy_policy_path(name)
            server = Server(config.backend.server_name, server_roots(config).snapshot())
        elif policy_file:
            policy_path = policy_file
        elif tests.policy:
            policy_path = file.parent / tests.policy
        else:
            return _bad(f"{file} names no policy: give --policy FILE or --proxy NAME", as_json)
        engine = engine_for(policy_path)
    except ConfigError as exc:
        return _bad(f"the policy cannot be used: {exc}", as_json)
    try:
        results = run_cases(engine, tests, server)
    except BadTestFile as exc:
        return _bad(f"{file} is not a valid test file", as_json, exc.problems)
    failed = [result for result in results if not result.passed]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "policy": str(policy_path),
                    "tests": str(file),
                    "passed": len(results) - len(failed),
                    "failed": len(failed),
                    "cases": [result.as_json() for result in results],
                },
                indent=2,
            )
        )
    else:
        _print_results(results, policy_path)
    if failed:
        raise SystemExit(1)


def _print_results(results: list[CaseResult], policy_path: Path) -> None:
    console.print(f"Testing [bold]{escape(str(policy_path))}[/]")
    for result in results:
        mark = "[green]PASS[/]" if result.passed else "[bold red]FAIL[/]"
        console.print(f"  {mark} {terminal_safe(result.name)}: {result.decision} by {terminal_safe(result.rule)}")
        if failure := result.failure():
            console.print(f"       [red]{terminal_safe(failure)}[/]")
    failed = sum(not result.passed for result in results)
    colour = "red" if failed else "green"
    console.print(f"[bold {colour}]{len(results) - failed} passed, {failed} failed[/] ({len(results)} cases)")


@click.command("replay")
@click.option("--proxy", "-p", "name", required=True, help="The proxy whose recorded requests to re-decide.")
@click.option("--candidate", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The policy to try.")
@click.option("--since", help="Only requests since this ISO time or age (30m, 12h, 7d).")
@click.option("--limit", type=click.IntRange(0, 10_000), default=10, show_default=True, help="Examples per change.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def replay_command(name: str, candidate: Path, since: str | None, limit: int, as_json: bool) -> None:
    """Re-decide every recorded request of a proxy under a candidate policy; show what would change."""
    load_proxy_config(name)  # a clear error for an unknown proxy
    try:
        engine = engine_for(candidate)
    except ConfigError as exc:
        return _bad(f"the candidate policy cannot be used: {exc}", as_json)
    try:
        moment = since_time(since) if since else None
    except ValueError as exc:
        return _bad(str(exc), as_json)
    log_dir = paths.proxy_log_dir(load_manager_config().log_path, name)
    report = {"proxy": name, "candidate": str(candidate), **replay(log_dir, engine, since=moment, limit=limit)}
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    _print_report(report, log_dir)


def _print_report(report: dict, log_dir: Path) -> None:
    console.print(
        f"Replayed [bold]{report['entries']}[/] recorded decisions of {terminal_safe(report['proxy'])} "
        f"under {escape(report['candidate'])}"
    )
    console.print(
        f"  {report['redecided']} re-decided: [bold]{report['changed']} would change[/], "
        f"{report['unchanged']} unchanged, {report['same_outcome_other_rule']} same outcome by another rule"
    )
    console.print(f"  {report['not_decided_by_policy']} not decided by the policy (discovery, limits, tasks)")
    if report["not_redecidable"]:
        console.print(f"  [yellow]{report['not_redecidable']} not re-decidable[/]:")
        for reason, count in report["not_redecidable_reasons"].items():
            console.print(f"    {count} × {escape(reason)}")
    for change in report["changes"]:
        console.print(f"\n[bold]{change['from']} → {change['to']}[/]: {change['count']}")
        for example in change["examples"]:
            what = example["tool_name"] or example["mcp_method"]
            where = f" {', '.join(example['paths'])}" if example["paths"] else ""
            console.print(
                f"  {terminal_safe(what)}{terminal_safe(where)} as {terminal_safe(example['subject_id'])} "
                f"(request {terminal_safe(example['request_id'])}, {example['time']}): "
                f"{example['old']['rule']} → {terminal_safe(example['new']['rule'])}"
            )
            console.print(f"    [dim]{escape(str(log_dir / example['file']))} #{example['sequence']}[/]")
