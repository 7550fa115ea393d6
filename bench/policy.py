"""Cost of a policy decision, in-process: the engine alone, the engine with its context, and loading.

Policies of 10, 100 and 1,000 rules are generated (seeded, so every run sees the same ones) the
way people write them: allow rules naming exact tools or tool globs (`read_*`) for paths under
their own project folders, deny rules by extension, secret folders and side effects, approval
(hitl) rules for writes, per-user copy rules, and rules for resources and prompts. Against each,
a fixed mix of requests: tools/call with paths that hit a rule, paths no rule covers (default
deny), secrets, shell tools, copies, `resources/read` of file:// URIs, and paths through symlinks.

  evaluate (warm)    `engine.evaluate(ctx)` on a prebuilt context: the decision itself. The
                     engine caches, per (method, tool, subject, backend), which rules can apply;
                     in a session that cache is warm after the first call of each tool
  evaluate (cold)    the same with that cache emptied before every call: the first call of a tool
  minus path-only    evaluate (warm) on the same policy without its path-only rules (rules with
                     no condition but paths, extension or scheme), which every request must check
  context+evaluate   `build_context()` (which resolves every path on disk with realpath) and then
                     `evaluate()`: what the proxy runs for every request
  load               json.loads + `parse_policy()` + `PolicyEngine()` (validation and compiling
                     every glob), with Python's regex cache purged first, as on a real reload

    .venv/bin/python bench/policy.py [--sizes 10 100 1000] [--samples 40000] [--json FILE]

See docs/performance.md ("Policy decisions") for the method and the numbers.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import re
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

# Before anything of mcp_acp is imported: nothing here may touch the user's configuration.
_HOME = tempfile.TemporaryDirectory(prefix="mcp-acp-bench-policy-home-")
os.environ["MCP_ACP_HOME"] = _HOME.name

from mcp_acp.identity.local import Identity
from mcp_acp.policy import globs
from mcp_acp.policy.context import DecisionContext, build_context
from mcp_acp.policy.engine import PolicyEngine
from mcp_acp.policy.model import parse_policy
from mcp_acp.policy.protected import ProtectedPaths
from mcp_acp.policy.side_effects import TOOL_SIDE_EFFECTS

console = Console()
if not console.is_terminal:
    console.width = 120  # piped or redirected: keep the tables readable

# The targets for the decision itself (evaluate on a prebuilt context), median µs.
TARGETS_US = {100: 10.0, 1000: 50.0}

SUBJECTS = ("auth0|alice", "auth0|bob", "auth0|carol")
BACKENDS = ("filesystem", "github", "docs-site", "postgres")
PATH_ONLY = {"path_pattern", "source_path", "dest_path", "extension", "scheme"}
SECRET_EXTENSIONS = (".pem", ".key", ".p12", ".kdbx")
TOOL_GLOBS = ("read_*", "list_*", "get_*", "search_*", "git_*", "*_issue", "*_file", "find_*")
VERBS = (
    "read",
    "write",
    "list",
    "get",
    "create",
    "delete",
    "update",
    "search",
    "fetch",
    "find",
    "remove",
    "edit",
    "set",
    "add",
    "run",
    "send",
    "query",
    "move",
    "copy",
    "rename",
)
NOUNS = (
    "file",
    "directory",
    "issue",
    "pull_request",
    "branch",
    "commit",
    "table",
    "row",
    "record",
    "page",
    "ticket",
    "comment",
    "label",
    "user",
    "secret",
    "email",
    "message",
    "channel",
    "event",
    "document",
)
MUST_HAVE = (
    "read_file",
    "write_file",
    "edit_file",
    "list_directory",
    "search_files",
    "copy_file",
    "move_file",
    "delete_file",
    "bash",
    "run_command",
    "fetch_url",
    "execute_sql",
    "send_email",
    "get_secret",
    "git_status",
    "git_commit",
    "docker_exec",
    "sudo",
)


def tool_vocabulary(rng: random.Random) -> list[str]:
    """About 200 tool names: 80 from the side-effects map (known tools), the rest verb_noun."""
    known = sorted(set(TOOL_SIDE_EFFECTS) - set(MUST_HAVE))
    generated = sorted({f"{v}_{n}" for v in VERBS for n in NOUNS} - set(TOOL_SIDE_EFFECTS))
    names = list(MUST_HAVE) + rng.sample(known, 80 - len(MUST_HAVE)) + rng.sample(generated, 120)
    return sorted(set(names))


# --- policies -------------------------------------------------------------------------------

# Rule kinds and their share of a policy; the first rules take one kind each so even the
# 10-rule policy has every kind. The two ONCE kinds (global secret denials) are written once.
ONCE = ("deny-secrets-everywhere", "deny-keys-everywhere")
KINDS = (
    ("allow-tools-project", 30),
    ("allow-glob-project", 15),
    ("hitl-writes", 8),
    ("deny-secrets", 10),
    ("deny-effects", 7),
    ("allow-copy-user", 10),
    ("allow-resources", 10),
    ("allow-prompts", 5),
    ("deny-tool", 5),
)


def path_pattern(rng: random.Random, project: str) -> str:
    return rng.choice(
        (
            f"{project}/**",
            f"{project}/**",
            f"{project}/src/**",
            f"{project}/src/**/*.py",
            f"{project}/docs/*.md",
            f"{project}/README.md",
        )
    )


def make_rule(i: int, kind: str, rng: random.Random, projects: list[str], tools: list[str]) -> dict:
    project = rng.choice(projects)
    rule: dict = {"id": f"r{i:04d}-{kind}"}
    if kind == "allow-tools-project":
        names = rng.sample(tools, rng.choice((1, 1, 2, 3)))
        rule |= {
            "effect": "allow",
            "conditions": {
                "tool_name": names if len(names) > 1 else names[0],
                "path_pattern": path_pattern(rng, project),
            },
        }
        if rng.random() < 0.3:
            rule["conditions"]["subject_id"] = rng.choice(SUBJECTS)
    elif kind == "allow-glob-project":
        rule |= {
            "effect": "allow",
            "conditions": {"tool_name": rng.choice(TOOL_GLOBS), "path_pattern": path_pattern(rng, project)},
        }
    elif kind == "hitl-writes":
        rule |= {
            "effect": "hitl",
            "conditions": {"operations": ["write", "delete"], "path_pattern": f"{project}/**"},
            "cache_side_effects": ["fs_write"],
        }
    elif kind == "deny-secrets-everywhere":  # written once per policy
        rule |= {
            "effect": "deny",
            "description": "no secrets anywhere",
            "conditions": {"path_pattern": ["**/.env", "**/.env.*", "**/.ssh/**"]},
        }
    elif kind == "deny-keys-everywhere":
        rule |= {"effect": "deny", "conditions": {"extension": list(SECRET_EXTENSIONS)}}
    elif kind == "deny-secrets":  # a project's own secret folder or files
        rule |= {
            "effect": "deny",
            "conditions": rng.choice(
                (
                    {"path_pattern": f"{project}/secrets/**"},
                    {"path_pattern": [f"{project}/config/prod.*", f"{project}/credentials/**"]},
                    {"path_pattern": f"{project}/**", "extension": rng.sample(SECRET_EXTENSIONS, 2)},
                )
            ),
        }
    elif kind == "deny-effects":
        conditions: dict = {
            "side_effects": rng.choice(
                (["code_exec"], ["sudo_elevate"], ["email_send"], ["code_exec", "process_spawn"], ["secrets_read"])
            )
        }
        if rng.random() < 0.5:
            conditions["backend_id"] = rng.choice(BACKENDS)
        rule |= {"effect": "deny", "conditions": conditions}
    elif kind == "allow-copy-user":
        other = rng.choice(projects)
        rule |= {
            "effect": "allow",
            "conditions": {
                "subject_id": rng.choice(SUBJECTS),
                "tool_name": rng.choice(("copy_*", "move_file", "copy_file")),
                "source_path": f"{project}/**",
                "dest_path": f"{other}/**",
            },
        }
    elif kind == "allow-resources":
        rule |= {
            "effect": "allow",
            "conditions": {
                "resource_type": "resource",
                "scheme": "file",
                "path_pattern": f"{project}/**",
                "extension": rng.sample((".md", ".txt", ".py", ".json"), 2),
            },
        }
    elif kind == "allow-prompts":
        rule |= {"effect": "allow", "conditions": {"mcp_method": "prompts/get", "backend_id": rng.choice(BACKENDS)}}
    elif kind == "deny-tool":
        rule |= {
            "effect": "deny",
            "conditions": {
                "tool_name": rng.choice(("drop_*", "delete_*", "sudo", "*_secret")),
                "backend_id": rng.choice(BACKENDS),
            },
        }
    if "description" not in rule and rng.random() < 0.3:
        rule["description"] = f"generated {kind} rule {i}"
    return rule


def make_policy(size: int, seed: int, root: Path, tools: list[str]) -> tuple[dict, list[str]]:
    rng = random.Random(seed * 1_000_003 + size)
    projects = [str(root / "home/dev/projects" / f"p{n:04d}") for n in range(max(3, size // 4))]
    names, weights = zip(*KINDS, strict=True)
    fixed = [*ONCE, *names]
    kinds = fixed[:size] + rng.choices(names, weights, k=max(0, size - len(fixed)))
    rules = [make_rule(i, kind, rng, projects, tools) for i, kind in enumerate(kinds)]
    return {"version": "1", "default_action": "deny", "rules": rules}, projects


# --- requests -------------------------------------------------------------------------------


def a_path_for(pattern: str) -> str:
    """A concrete path a path pattern matches."""
    if pattern.endswith("/src/**/*.py"):
        return pattern.removesuffix("/src/**/*.py") + "/src/pkg/module.py"
    if pattern.endswith("/docs/*.md"):
        return pattern.removesuffix("/docs/*.md") + "/docs/guide.md"
    if pattern.endswith("/**"):
        return pattern.removesuffix("/**") + "/src/app/main.py"
    return pattern


def a_tool_for(pattern: str, tools: list[str], rng: random.Random) -> str:
    regex = re.compile(globs.name_regex(pattern), re.IGNORECASE)
    return rng.choice([t for t in tools if regex.fullmatch(t)] or [pattern])


def call(tool: str, **arguments: str) -> tuple[str, dict]:
    return "tools/call", {"name": tool, "arguments": arguments}


def make_requests(
    policy: dict, projects: list[str], tools: list[str], root: Path, seed: int, count: int = 64
) -> list[tuple[dict, str, str]]:
    """(message, subject, backend) triples: about half aimed at a rule, the rest at nothing or at a denial."""
    rng = random.Random(seed)
    rules = policy["rules"]
    by_kind: dict[str, list[dict]] = {}
    for rule in rules:
        by_kind.setdefault(rule["id"].split("-", 1)[1], []).append(rule)
    outside = str(root / "home/dev/elsewhere")
    made: list[tuple[str, dict]] = []
    while len(made) < count:
        roll = rng.random()
        project = rng.choice(projects)
        if roll < 0.40:  # aimed at an allow / hitl rule on a project path
            rule = rng.choice(
                by_kind.get("allow-tools-project", [])
                + by_kind.get("allow-glob-project", [])
                + by_kind.get("hitl-writes", [])
            )
            conditions = rule["conditions"]
            names = conditions.get("tool_name") or rng.choice(("write_file", "edit_file", "delete_file"))
            name = rng.choice(names) if isinstance(names, list) else names
            made.append(call(a_tool_for(name, tools, rng), path=a_path_for(conditions["path_pattern"])))
        elif roll < 0.55:  # no rule covers it: default deny
            made.append(call(rng.choice(tools), path=f"{outside}/notes-{rng.randrange(100)}.txt"))
        elif roll < 0.62:  # secrets inside a project
            made.append(
                call(
                    "read_file",
                    path=rng.choice((f"{project}/.env", f"{project}/certs/server.pem", f"{project}/secrets/token.txt")),
                )
            )
        elif roll < 0.70:  # shell and exec tools
            made.append(call(rng.choice(("bash", "run_command", "docker_exec")), command="pytest -q", cwd=project))
        elif roll < 0.77:  # copies between projects
            made.append(
                call("copy_file", source=f"{project}/data/in.csv", destination=f"{rng.choice(projects)}/data/out.csv")
            )
        elif roll < 0.90:  # resources/read of a file:// URI
            made.append(
                (
                    "resources/read",
                    {
                        "uri": "file://"
                        + rng.choice((f"{project}/README.md", f"{project}/docs/guide.md", f"{project}/data/big.bin"))
                    },
                )
            )
        elif roll < 0.95:  # a path through a symlink (judged as written and as resolved)
            made.append(call("read_file", path=str(root / "home/dev/link" / Path(project).name / "src/app/main.py")))
        else:
            made.append(("prompts/get", {"name": "summarize"}))
    return [
        ({"jsonrpc": "2.0", "id": n, "method": method, "params": params}, rng.choice(SUBJECTS), rng.choice(BACKENDS))
        for n, (method, params) in enumerate(made)
    ]


def lay_out_files(root: Path, requests: list[tuple[dict, str, str]]) -> None:
    """Create the files the requests name, so realpath walks real folders (and the symlinks)."""
    for message, _, _ in requests:
        params = message["params"]
        arguments = params.get("arguments", {})
        named = [arguments.get(k) for k in ("path", "source", "destination")]
        named.append(params["uri"].removeprefix("file://") if "uri" in params else None)
        for path in filter(None, named):
            if "/home/dev/link/" in path:
                project = Path(path).relative_to(root / "home/dev/link").parts[0]
                link = root / "home/dev/link" / project
                link.parent.mkdir(parents=True, exist_ok=True)
                if not link.is_symlink():
                    link.symlink_to(root / "home/dev/projects" / project)
                path = str(root / "home/dev/projects" / project / "src/app/main.py")
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).touch()


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Row:
    rules: int
    measure: str
    samples: int
    median_us: float = 0.0
    p95_us: float = 0.0
    p99_us: float = 0.0
    target_us: float | None = None


@dataclass
class SizeReport:
    rules: int
    requests: int
    decisions: dict = field(default_factory=dict)  # allow / deny (default) / deny (rule) / … -> count
    candidates_mean: float = 0.0  # rules a request checks: after the cached conditions and the folder index
    path_only_rules: int = 0  # rules with no condition but paths, extension or scheme
    rows: list[Row] = field(default_factory=list)


def summarize(rules: int, measure: str, samples_ns: list[int], target: float | None = None) -> Row:
    us = [s / 1000 for s in samples_ns]
    cuts = statistics.quantiles(us, n=100, method="inclusive")
    return Row(rules, measure, len(us), statistics.median(us), cuts[94], cuts[98], target)


def timed(fn, inputs: list, samples: int, before=None) -> list[int]:
    """One perf_counter_ns pair around each call, inputs taken round-robin."""
    clock = time.perf_counter_ns
    out = [0] * samples
    n = len(inputs)
    for i in range(samples):
        item = inputs[i % n]
        if before is not None:
            before()
        start = clock()
        fn(item)
        out[i] = clock() - start
    return out


def decision_label(ctx: DecisionContext, engine: PolicyEngine) -> str:
    decision = engine.evaluate(ctx)
    if decision.final_rule in ("default", "built_in_protected_path"):
        return f"{decision.effect} ({decision.final_rule})"
    # A path that a server may read two ways (through a symlink) was judged in both readings.
    return decision.effect + (" (resolved path)" if any(len(j.readings) > 1 for j in ctx.judged) else "")


def bench_size(
    size: int, args: argparse.Namespace, root: Path, tools: list[str], protected: ProtectedPaths
) -> SizeReport:
    policy, projects = make_policy(size, args.seed, root, tools)
    text = json.dumps(policy, indent=2)
    requests = make_requests(policy, projects, tools, root, args.seed + size)
    lay_out_files(root, requests)
    engine = PolicyEngine(parse_policy(json.loads(text)), protected)

    def context(item: tuple[dict, str, str]) -> DecisionContext:
        message, subject, backend = item
        return build_context(
            message,
            Identity(subject, "token", {"sub": subject}),
            backend,
            session_id="bench-session",
            proxy_name="bench",
        )

    contexts = [context(item) for item in requests]
    report = SizeReport(size, len(requests))
    report.decisions = dict(Counter(decision_label(ctx, engine) for ctx in contexts).most_common())
    report.candidates_mean = statistics.fmean(
        len(engine.candidates(ctx).for_path(ctx.resource.path)) for ctx in contexts
    )

    evaluate = engine.evaluate
    for ctx in contexts:  # warm: every (method, tool, subject, backend) seen once
        evaluate(ctx)
    report.rows.append(
        summarize(size, "evaluate (warm)", timed(evaluate, contexts, args.samples), TARGETS_US.get(size))
    )
    report.rows.append(
        summarize(
            size, "evaluate (cold)", timed(evaluate, contexts, args.cold_samples, before=engine._candidates.clear)
        )
    )

    # The same policy without its path-only rules (no condition but paths, extension or scheme):
    # such a rule cannot be ruled out by tool, method, user or backend, so every request checks it.
    path_only = [r for r in policy["rules"] if set(r["conditions"]) <= PATH_ONLY]
    report.path_only_rules = len(path_only)
    if path_only:
        lean = PolicyEngine(
            parse_policy({**policy, "rules": [r for r in policy["rules"] if r not in path_only]}), protected
        )
        for ctx in contexts:
            lean.evaluate(ctx)
        report.rows.append(
            summarize(
                size,
                f"evaluate (warm), minus {len(path_only)} path-only rules",
                timed(lean.evaluate, contexts, max(1, args.samples // 2)),
            )
        )

    def build_and_evaluate(item: tuple[dict, str, str]) -> None:
        evaluate(context(item))

    report.rows.append(
        summarize(size, "build_context + evaluate", timed(build_and_evaluate, requests, args.context_samples))
    )

    def load(_: object) -> None:
        PolicyEngine(parse_policy(json.loads(text)), protected)

    report.rows.append(summarize(size, "load (parse + compile)", timed(load, [None], args.loads, before=re.purge)))
    return report


def timer_overhead_ns() -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(100_000):
        start = clock()
        samples.append(clock() - start)
    return statistics.median(samples)


# --- output ---------------------------------------------------------------------------------


def show(reports: list[SizeReport], overhead_ns: float) -> None:
    table = Table(title="Policy decisions, in-process: µs per call", title_justify="left")
    for column in ("rules", "measure", "samples", "median µs", "p95 µs", "p99 µs", "target (median)"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for report in reports:
        for row in report.rows:
            target = "-"
            if row.target_us is not None:
                verdict = "[green]met[/]" if row.median_us <= row.target_us else "[red]missed[/]"
                target = f"≤ {row.target_us:g} µs {verdict}"
            unit = 1000 if row.measure.startswith("load") else 1
            suffix = " ms" if unit == 1000 else ""
            table.add_row(
                str(row.rules),
                row.measure,
                f"{row.samples:,}",
                *(f"{v / unit:,.1f}{suffix}" for v in (row.median_us, row.p95_us, row.p99_us)),
                target,
            )
        table.add_section()
    console.print(table)

    table = Table(title="The request mix and what it got", title_justify="left")
    for column in ("rules", "path-only rules", "requests", "candidate rules per request (mean)", "decisions"):
        table.add_column(column, justify="left" if column == "decisions" else "right")
    for report in reports:
        table.add_row(
            str(report.rules),
            str(report.path_only_rules),
            str(report.requests),
            f"{report.candidates_mean:.1f}",
            ", ".join(f"{label} {n}" for label, n in report.decisions.items()),
        )
    console.print(table)
    console.print(f"[dim]timer overhead (an empty perf_counter_ns pair): {overhead_ns:.0f} ns, included above[/]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10, 100, 1000], help="policy sizes in rules (default 10 100 1000)"
    )
    parser.add_argument(
        "--samples", type=int, default=40_000, help="timed warm evaluate() calls per size (default 40000)"
    )
    parser.add_argument(
        "--cold-samples",
        type=int,
        default=1_000,
        help="timed evaluate() calls with the candidate cache emptied first (default 1000)",
    )
    parser.add_argument(
        "--context-samples",
        type=int,
        default=10_000,
        help="timed build_context() + evaluate() calls per size (default 10000)",
    )
    parser.add_argument("--loads", type=int, default=5, help="timed policy loads per size (default 5)")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the generated policies and requests")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]  # other work on the machine skews every number; record it
    rng = random.Random(args.seed)
    tools = tool_vocabulary(rng)
    reports = []
    with tempfile.TemporaryDirectory(prefix="mcp-acp-bench-policy-") as tmp:
        root = Path(os.path.realpath(tmp))  # as users write them: real folders, no symlinked prefix
        protected = ProtectedPaths([root / "config/mcp-acp", root / "logs/mcp-acp"])
        overhead = timer_overhead_ns()
        for size in args.sizes:
            with console.status(f"{size} rules"):
                gc.collect()
                reports.append(bench_size(size, args, root, tools, protected))
    load_after = os.getloadavg()[0]
    show(reports, overhead)
    console.print(
        f"[dim]{len(tools)} tool names; 1-minute load average {load_before:.2f} before, "
        f"{load_after:.2f} after; {os.cpu_count()} CPUs; Python {platform.python_version()}[/]"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "sizes": args.sizes,
            "samples": args.samples,
            "cold_samples": args.cold_samples,
            "context_samples": args.context_samples,
            "loads": args.loads,
            "seed": args.seed,
            "tool_names": len(tools),
            "timer_overhead_ns": overhead,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "load_avg_1m": [load_before, load_after],
            "targets_us": TARGETS_US,
            "results": [asdict(r) for r in reports],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        console.print(f"results written to {args.json}")


if __name__ == "__main__":
    try:
        main()
    finally:
        _HOME.cleanup()
