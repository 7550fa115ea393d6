import { Fragment, useEffect, useMemo, useState, type FormEvent } from "react";
import { errorMessage } from "../../api/client";
import { endpoints } from "../../api/endpoints";
import type { EvaluateResult, IntegrityFile, LogEntry, LogsResponse, ProxyDetail, VerifyResult } from "../../api/types";
import { ConfirmDialog } from "../../components/Dialog";
import { formatTime } from "../../lib/format";
import { toastError, toastSuccess, toastWarning } from "../../lib/notify";
import { useAsync } from "../../lib/useAsync";
import { explainDecision, isDecisionEntry, recheckBody, summarizeEntry, testRequestBody, type Explanation } from "../../state/explain";
import { useLive } from "../../state/LiveProvider";
import { Field } from "../AddProxyDialog";

interface Props {
  proxy: ProxyDetail;
  status: "running" | "inactive";
  onIntegrity: (hasIssues: boolean) => void;
}

export function AuditTab({ proxy, status, onIntegrity }: Props) {
  return (
    <div className="audit-layout">
      <div className="stack-lg audit-main">
        <LogViewer proxy={proxy} running={status === "running"} />
      </div>
      <aside className="stack-lg audit-side">
        <IntegritySection proxy={proxy} onIntegrity={onIntegrity} />
        <TestRequest proxy={proxy} running={status === "running"} />
      </aside>
    </div>
  );
}

// --- decision badge -------------------------------------------------------------------------

export function DecisionBadge({ entry }: { entry: LogEntry | { decision?: unknown } }) {
  const decision = String((entry as LogEntry).decision ?? "–");
  const outcome = (entry as LogEntry).hitl_outcome;
  const tone = decision === "allow" ? "success" : decision === "deny" ? "danger" : decision === "hitl" ? "warning" : "muted";
  return (
    <span className={`chip chip-${tone}`}>
      {decision}
      {typeof outcome === "string" && outcome ? <span className="chip-extra"> · {outcome.replace(/_/g, " ")}</span> : null}
    </span>
  );
}

// --- log viewer -----------------------------------------------------------------------------

const FALLBACK_TYPES = [
  { folder: "audit", types: ["decisions", "operations", "auth"] },
  { folder: "system", types: ["system", "config_history", "policy_history"] },
];
const TYPE_LABELS: Record<string, string> = {
  decisions: "Decisions",
  operations: "Operations",
  auth: "Authentication",
  system: "System",
  config_history: "Config history",
  policy_history: "Policy history",
  client_wire: "Client wire (debug)",
  backend_wire: "Backend wire (debug)",
};
const TIME_RANGES = [
  { value: "5m", label: "Last 5 minutes" },
  { value: "1h", label: "Last hour" },
  { value: "24h", label: "Last 24 hours" },
  { value: "all", label: "All time" },
];

interface LogFilters {
  decision: string;
  hitl_outcome: string;
  level: string;
  session_id: string;
  request_id: string;
  policy_version: string;
  config_version: string;
}
const NO_FILTERS: LogFilters = { decision: "", hitl_outcome: "", level: "", session_id: "", request_id: "", policy_version: "", config_version: "" };
const PAGE = 50;

function LogViewer({ proxy, running }: { proxy: ProxyDetail; running: boolean }) {
  const { state } = useLive();
  const [type, setType] = useState("decisions");
  const [range, setRange] = useState("1h");
  const [filters, setFilters] = useState<LogFilters>(NO_FILTERS);
  const [extra, setExtra] = useState<LogsResponse | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [open, setOpen] = useState<Set<string>>(new Set());
  const [explain, setExplain] = useState<string | null>(null);
  const metadata = useAsync(() => endpoints.logsMetadata(proxy.proxy_id), [proxy.proxy_id]);
  const version = state.versions.logs[proxy.proxy_name] ?? 0;

  const query = useMemo(() => {
    const q: Record<string, string | number | undefined> = { time_range: range, limit: PAGE };
    for (const [key, value] of Object.entries(filters)) if (value.trim()) q[key] = value.trim();
    return q;
  }, [range, filters]);
  const logs = useAsync(() => endpoints.logs(proxy.proxy_id, type, query), [proxy.proxy_id, type, query, version]);
  useEffect(() => setExtra(null), [logs.data]);

  const entries = [...(logs.data?.entries ?? []), ...(extra?.entries ?? [])];
  const hasMore = extra ? extra.has_more : logs.data?.has_more ?? false;

  const loadMore = async () => {
    const last = entries[entries.length - 1];
    if (!last?.time) return;
    setLoadingMore(true);
    try {
      const page = await endpoints.logs(proxy.proxy_id, type, { ...query, before: last.time });
      setExtra((prev) => ({ ...page, entries: [...(prev?.entries ?? []), ...page.entries] }));
    } catch (error) {
      toastError(error, "Could not load more entries");
    } finally {
      setLoadingMore(false);
    }
  };

  const folders = metadata.data?.folders?.length
    ? metadata.data.folders.map((folder) => ({ folder: folder.name, types: folder.files.map((file) => file.name) }))
    : FALLBACK_TYPES;
  const setFilter = (key: keyof LogFilters, value: string) => setFilters((f) => ({ ...f, [key]: value }));
  const toggle = (key: string) =>
    setOpen((current) => {
      const next = new Set(current);
      if (next.has(key)) next.delete(key);
      else next.add(key);
      return next;
    });
  const activeFilters = Object.values(filters).filter((value) => value.trim()).length;

  return (
    <section className="panel" aria-labelledby="logs-title">
      <div className="panel-header">
        <h2 id="logs-title">Logs</h2>
        {logs.loading && <span className="spinner" aria-label="Loading" />}
        <div className="spacer" />
        <span className="muted small">{logs.data ? `${entries.length} shown${logs.data.total_scanned !== undefined ? ` · ${logs.data.total_scanned} scanned` : ""}` : ""}</span>
      </div>
      <div className="log-controls">
        <Field label="Log">
          {(id) => (
            <select id={id} value={type} onChange={(e) => { setType(e.target.value); setOpen(new Set()); setExplain(null); }}>
              {folders.map((group) => (
                <optgroup key={group.folder} label={group.folder}>
                  {group.types.map((t) => (
                    <option key={t} value={t}>
                      {TYPE_LABELS[t] ?? t}
                    </option>
                  ))}
                </optgroup>
              ))}
            </select>
          )}
        </Field>
        <Field label="Time range">
          {(id) => (
            <select id={id} value={range} onChange={(e) => setRange(e.target.value)}>
              {TIME_RANGES.map((r) => (
                <option key={r.value} value={r.value}>
                  {r.label}
                </option>
              ))}
            </select>
          )}
        </Field>
        {type === "decisions" && (
          <>
            <Field label="Decision">
              {(id) => (
                <select id={id} value={filters.decision} onChange={(e) => setFilter("decision", e.target.value)}>
                  <option value="">Any</option>
                  <option value="allow">allow</option>
                  <option value="deny">deny</option>
                  <option value="hitl">hitl</option>
                </select>
              )}
            </Field>
            <Field label="HITL outcome">
              {(id) => (
                <select id={id} value={filters.hitl_outcome} onChange={(e) => setFilter("hitl_outcome", e.target.value)}>
                  <option value="">Any</option>
                  <option value="user_allowed">user allowed</option>
                  <option value="user_denied">user denied</option>
                  <option value="timeout">timeout</option>
                </select>
              )}
            </Field>
          </>
        )}
        {type === "system" && (
          <Field label="Level">
            {(id) => (
              <select id={id} value={filters.level} onChange={(e) => setFilter("level", e.target.value)}>
                <option value="">Any</option>
                <option value="WARNING">WARNING</option>
                <option value="ERROR">ERROR</option>
                <option value="CRITICAL">CRITICAL</option>
              </select>
            )}
          </Field>
        )}
      </div>
      <details className="advanced filters-more">
        <summary>More filters{activeFilters ? ` (${activeFilters} active)` : ""}</summary>
        <div className="log-controls">
          <Field label="Session id">{(id) => <input id={id} className="mono" value={filters.session_id} onChange={(e) => setFilter("session_id", e.target.value)} />}</Field>
          <Field label="Request id">{(id) => <input id={id} className="mono" value={filters.request_id} onChange={(e) => setFilter("request_id", e.target.value)} />}</Field>
          <Field label="Policy version">
            {(id) => (
              <select id={id} value={filters.policy_version} onChange={(e) => setFilter("policy_version", e.target.value)}>
                <option value="">Any</option>
                {(metadata.data?.available_policy_versions ?? []).map((v) => <option key={v} value={v}>{v}</option>)}
              </select>
            )}
          </Field>
          <Field label="Config version">
            {(id) => (
              <select id={id} value={filters.config_version} onChange={(e) => setFilter("config_version", e.target.value)}>
                <option value="">Any</option>
                {(metadata.data?.available_config_versions ?? []).map((v) => <option key={v} value={v}>{v}</option>)}
              </select>
            )}
          </Field>
          {activeFilters > 0 && (
            <button type="button" className="button button-small button-ghost align-end" onClick={() => setFilters(NO_FILTERS)}>
              Clear filters
            </button>
          )}
        </div>
      </details>

      {logs.error && !logs.data ? (
        <p className="callout callout-error" role="alert">{errorMessage(logs.error)}</p>
      ) : entries.length === 0 ? (
        <p className="muted panel-empty">{logs.data ? "No entries in this range. Try a longer time range." : "Loading…"}</p>
      ) : (
        <ul className="log-list">
          {entries.map((entry, index) => {
            const key = `${entry.sequence ?? ""}-${entry.time ?? ""}-${index}`;
            const expanded = open.has(key);
            const decision = isDecisionEntry(entry);
            return (
              <li key={key} className={`log-row${expanded ? " expanded" : ""}`} data-testid="log-row">
                <div className="log-row-head">
                  <button type="button" className="log-toggle" aria-expanded={expanded} onClick={() => toggle(key)}>
                    <svg viewBox="0 0 20 20" width="12" height="12" aria-hidden="true" className="chevron">
                      <path d="M7.5 5l5 5-5 5" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" />
                    </svg>
                    <span className="log-time mono">{formatTime(entry.time)}</span>
                    {decision ? <DecisionBadge entry={entry} /> : <LevelChip entry={entry} />}
                    <span className="log-summary mono">{summarizeEntry(type, entry)}</span>
                    <span className="sr-only">{expanded ? "Hide details" : "Show details"}</span>
                  </button>
                  {decision && (
                    <button
                      type="button"
                      className="button button-small button-ghost why-button"
                      aria-expanded={explain === key}
                      onClick={() => setExplain(explain === key ? null : key)}
                    >
                      Why?
                    </button>
                  )}
                </div>
                {explain === key && <DecisionExplain proxy={proxy} entry={entry} running={running} onClose={() => setExplain(null)} />}
                {expanded && <pre className="code-block log-json">{JSON.stringify(entry, null, 2)}</pre>}
              </li>
            );
          })}
        </ul>
      )}
      {hasMore && (
        <div className="center">
          <button type="button" className="button" onClick={loadMore} disabled={loadingMore}>
            {loadingMore && <span className="spinner" aria-hidden="true" />}
            Load more
          </button>
        </div>
      )}
    </section>
  );
}

function LevelChip({ entry }: { entry: LogEntry }) {
  const level = typeof entry.level === "string" ? entry.level : typeof entry.status === "string" ? entry.status : null;
  if (!level) return null;
  const upper = level.toUpperCase();
  const tone = upper === "ERROR" || upper === "CRITICAL" || upper === "FAILURE" ? "danger" : upper === "WARNING" ? "warning" : upper === "SUCCESS" ? "success" : "muted";
  return <span className={`chip chip-${tone}`}>{level}</span>;
}

// --- decision explorer ----------------------------------------------------------------------

function ExplanationView({ explanation, title }: { explanation: Explanation; title?: string }) {
  return (
    <div className="explain-body">
      {title && <h4 className="explain-subtitle">{title}</h4>}
      <div className="explain-verdict">
        <DecisionBadge entry={{ decision: explanation.decision }} />
        <span>
          decided by <code>{explanation.finalRule}</code>
        </span>
      </div>
      {explanation.reason && <p className="small">{explanation.reason}</p>}
      {explanation.note && <p className="muted small">{explanation.note}</p>}
      <h4 className="explain-subtitle">Matched rules ({explanation.matched.length})</h4>
      {explanation.matched.length === 0 ? (
        <p className="muted small">No rule matched this request.</p>
      ) : (
        <ul className="matched-list">
          {explanation.matched.map((rule) => (
            <li key={rule.id} className={rule.final ? "matched-final" : ""}>
              <span className={`chip chip-${rule.effect === "allow" ? "success" : rule.effect === "deny" ? "danger" : "warning"}`}>{rule.effect}</span>
              <code>{rule.id}</code>
              {rule.description && <span className="muted">{rule.description}</span>}
              {rule.final && <span className="chip chip-outline">final</span>}
              {rule.conditions && <span className="mono small muted">{JSON.stringify(rule.conditions)}</span>}
            </li>
          ))}
        </ul>
      )}
      {explanation.context.length > 0 && (
        <>
          <h4 className="explain-subtitle">Context attributes</h4>
          <dl className="kv small">
            {explanation.context.map((item) => (
              <Fragment key={item.key}>
                <dt>{item.label}</dt>
                <dd className="mono">{item.value}</dd>
              </Fragment>
            ))}
          </dl>
        </>
      )}
    </div>
  );
}

function DecisionExplain({ proxy, entry, running, onClose }: { proxy: ProxyDetail; entry: LogEntry; running: boolean; onClose: () => void }) {
  const explanation = explainDecision(entry);
  const [recheck, setRecheck] = useState<EvaluateResult | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const body = recheckBody(entry);

  const run = async () => {
    if (!body) return;
    setBusy(true);
    setProblem(null);
    try {
      setRecheck(await endpoints.evaluate(proxy.proxy_name, body));
    } catch (error) {
      setProblem(errorMessage(error));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="explain" data-testid="decision-explain" role="region" aria-label="Why this decision">
      <div className="explain-header">
        <h3>Why was this {explanation.decision === "allow" ? "allowed" : explanation.decision === "deny" ? "denied" : "sent to a human"}?</h3>
        <button type="button" className="button button-small button-ghost" onClick={onClose}>
          Hide
        </button>
      </div>
      <ExplanationView explanation={explanation} />
      <div className="explain-recheck">
        <button type="button" className="button button-small" onClick={run} disabled={!body || !running || busy} title={!running ? "The proxy must be running to evaluate" : undefined}>
          {busy && <span className="spinner" aria-hidden="true" />}
          Re-check with the current policy
        </button>
        {!running && <span className="muted small">Start the proxy to ask its current policy.</span>}
        {!body && <span className="muted small">This entry has no tool to re-check.</span>}
      </div>
      {problem && <p className="callout callout-error small" role="alert">{problem}</p>}
      {recheck && (
        <div className={`recheck-result${recheck.decision !== explanation.decision ? " changed" : ""}`}>
          <p className="small">
            {recheck.decision === explanation.decision
              ? "The current policy decides the same way."
              : `The current policy decides differently: ${recheck.decision} (was ${explanation.decision}).`}
          </p>
          <ExplanationView explanation={explainDecision(recheck)} title={`Current policy${recheck.policy_version ? ` (${recheck.policy_version})` : ""}`} />
        </div>
      )}
    </div>
  );
}

// --- test a request (dry run) ---------------------------------------------------------------

function TestRequest({ proxy, running }: { proxy: ProxyDetail; running: boolean }) {
  const [tool, setTool] = useState("");
  const [path, setPath] = useState("");
  const [args, setArgs] = useState("");
  const [result, setResult] = useState<EvaluateResult | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const { body, problem: invalid } = testRequestBody(tool, path, args);
    setProblem(invalid ?? null);
    setResult(null);
    if (!body) return;
    setBusy(true);
    try {
      setResult(await endpoints.evaluate(proxy.proxy_name, body));
    } catch (error) {
      setProblem(errorMessage(error));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel" aria-labelledby="test-title">
      <div className="panel-header">
        <h2 id="test-title">Test a request</h2>
      </div>
      <p className="muted small">Ask this proxy's policy engine what it would decide, without running the tool.</p>
      <form className="form" onSubmit={submit}>
        <Field label="Tool name">{(id) => <input id={id} className="mono" value={tool} onChange={(e) => setTool(e.target.value)} placeholder="read_file" autoComplete="off" />}</Field>
        <Field label="Path" hint="Optional">
          {(id) => <input id={id} className="mono" value={path} onChange={(e) => setPath(e.target.value)} placeholder="/tmp/notes.txt" autoComplete="off" />}
        </Field>
        <Field label="Arguments (JSON)" hint="Optional, e.g. {&quot;query&quot;: &quot;x&quot;}">
          {(id) => <textarea id={id} className="mono" rows={3} value={args} onChange={(e) => setArgs(e.target.value)} placeholder="{}" />}
        </Field>
        <div className="row gap">
          <button type="submit" className="button button-primary" disabled={busy || !running}>
            {busy && <span className="spinner" aria-hidden="true" />}
            Evaluate
          </button>
          {!running && <span className="muted small">The proxy must be running.</span>}
        </div>
      </form>
      {problem && <p className="callout callout-error small" role="alert">{problem}</p>}
      {result && (
        <div className="dry-run" data-testid="dry-run-result">
          <div className="dry-run-verdict">
            <span className="muted small">Decision</span>
            <strong className={`verdict verdict-${result.decision}`}>{result.decision}</strong>
          </div>
          <ExplanationView explanation={explainDecision(result)} />
        </div>
      )}
    </section>
  );
}

// --- integrity ------------------------------------------------------------------------------

const STATUS_TONE: Record<string, "protected" | "unprotected" | "broken"> = {
  protected: "protected",
  unprotected: "unprotected",
  empty: "unprotected",
  not_created: "unprotected",
  broken: "broken",
  missing: "broken",
  error: "broken",
};

function IntegritySection({ proxy, onIntegrity }: { proxy: ProxyDetail; onIntegrity: (issues: boolean) => void }) {
  const { state } = useLive();
  const liveStatus = state.proxies[proxy.proxy_name]?.status;
  const verify = useAsync(() => endpoints.verifyAudit(proxy.proxy_id), [proxy.proxy_id, liveStatus]);
  const [confirm, setConfirm] = useState(false);
  const [repairing, setRepairing] = useState(false);
  const result: VerifyResult | undefined = verify.data;

  const failed = result?.overall_status === "failed";
  useEffect(() => onIntegrity(Boolean(failed)), [failed, onIntegrity]);

  const repair = async () => {
    setRepairing(true);
    try {
      const outcome = await endpoints.repairAudit(proxy.proxy_id);
      if (outcome.success) toastSuccess(outcome.message);
      else toastWarning(outcome.message);
      setConfirm(false);
      verify.reload();
    } catch (error) {
      toastError(error, "Repair failed");
      setConfirm(false);
    } finally {
      setRepairing(false);
    }
  };

  const overall = !result ? null : result.overall_status === "passed" ? "protected" : result.overall_status === "failed" ? "broken" : "unprotected";
  const overallText = !result ? "" : result.overall_status === "passed" ? "All logs protected" : result.overall_status === "failed" ? "Integrity broken" : "No protected logs yet";

  return (
    <section className={`panel${failed ? " panel-alert" : ""}`} aria-labelledby="integrity-title">
      <div className="panel-header">
        <h2 id="integrity-title">Log integrity</h2>
        <div className="spacer" />
        <button type="button" className="button button-small" onClick={verify.reload} disabled={verify.loading}>
          {verify.loading && <span className="spinner" aria-hidden="true" />}
          Verify
        </button>
        <button type="button" className="button button-small" onClick={() => setConfirm(true)}>
          Repair
        </button>
      </div>
      {verify.error && !result ? (
        <p className="callout callout-error small" role="alert">{errorMessage(verify.error)}</p>
      ) : !result ? (
        <p className="muted panel-empty">Verifying hash chains…</p>
      ) : (
        <>
          <div className={`integrity-overall integrity-${overall}`} data-testid="integrity-overall">
            <IntegrityIcon status={overall ?? "unprotected"} />
            <span>
              <strong>{overallText}</strong>
              <span className="muted small block">
                {result.totals.entries ?? 0} entries in {result.totals.files ?? result.files.length} files · status: {overall}
              </span>
            </span>
          </div>
          {result.state_error && <p className="callout callout-error small">{result.state_error}</p>}
          <ul className="integrity-list">
            {result.files.map((file) => (
              <IntegrityRow key={file.name} file={file} />
            ))}
          </ul>
        </>
      )}
      <ConfirmDialog open={confirm} title="Repair audit logs" confirmLabel="Repair" busy={repairing} onConfirm={repair} onClose={() => setConfirm(false)}>
        <p>Repair resynchronises the integrity state with the logs. A log whose hash chain is broken is renamed to a <code>.broken.&lt;time&gt;.jsonl</code> backup and a fresh log is started. Log content is never edited.</p>
        <p className="muted small">The proxy must be stopped. Verify again afterwards.</p>
      </ConfirmDialog>
    </section>
  );
}

function IntegrityRow({ file }: { file: IntegrityFile }) {
  const tone = STATUS_TONE[file.status] ?? "unprotected";
  return (
    <li className={`integrity-row integrity-${tone}`} data-testid="integrity-row" data-file={file.name} data-status={tone}>
      <IntegrityIcon status={tone} />
      <div className="integrity-info">
        <div className="integrity-name">
          <span className="mono">{file.name}</span>
          <span className={`integrity-status status-word-${tone}`}>{file.status.replace(/_/g, " ")}</span>
        </div>
        <div className="muted small">
          {file.description} · {file.entry_count} {file.entry_count === 1 ? "entry" : "entries"}
          {file.backups.length > 0 && ` · ${file.backups.length} backup${file.backups.length === 1 ? "" : "s"}`}
        </div>
        {file.errors.map((error) => (
          <div key={error} className="integrity-error small">{error}</div>
        ))}
      </div>
    </li>
  );
}

function IntegrityIcon({ status }: { status: string }) {
  if (status === "protected") {
    return (
      <svg className="integrity-icon" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true">
        <path d="M10 2l6.5 2.5v5c0 4-2.8 7.3-6.5 8.5-3.7-1.2-6.5-4.5-6.5-8.5v-5z" fill="currentColor" />
        <path d="M7 10l2 2 4-4" fill="none" stroke="var(--surface)" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round" />
      </svg>
    );
  }
  if (status === "broken") {
    return (
      <svg className="integrity-icon" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true">
        <path d="M10 2l6.5 2.5v5c0 4-2.8 7.3-6.5 8.5-3.7-1.2-6.5-4.5-6.5-8.5v-5z" fill="currentColor" />
        <path d="M10 6.5v4.5M10 13.5v.2" stroke="var(--surface)" strokeWidth="1.9" strokeLinecap="round" />
      </svg>
    );
  }
  return (
    <svg className="integrity-icon" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true">
      <path d="M10 2l6.5 2.5v5c0 4-2.8 7.3-6.5 8.5-3.7-1.2-6.5-4.5-6.5-8.5v-5z" fill="none" stroke="currentColor" strokeWidth="1.6" />
    </svg>
  );
}
