import { useEffect, useState, type FormEvent } from "react";
import { ApiError, errorMessage } from "../../api/client";
import { endpoints } from "../../api/endpoints";
import type { PolicyDocument, PolicyResponse, PolicyRule, ProxyDetail } from "../../api/types";
import { ConfirmDialog, Dialog } from "../../components/Dialog";
import { ErrorState } from "../../components/ErrorState";
import { conditionText } from "../../lib/format";
import { toastError, toastSuccess } from "../../lib/notify";
import { useAsync } from "../../lib/useAsync";
import { emptyRuleForm, formToRule, ruleFormProblems, ruleToForm, type RuleForm } from "../../state/forms";
import { useLive } from "../../state/LiveProvider";
import { Field } from "../AddProxyDialog";

interface Props {
  proxy: ProxyDetail;
  status: "running" | "inactive";
}

const CONDITION_LABELS: Record<string, string> = {
  tool_name: "tool",
  path_pattern: "path",
  source_path: "source",
  dest_path: "destination",
  operations: "operations",
  extension: "extension",
  scheme: "scheme",
  backend_id: "backend",
  resource_type: "resource",
  mcp_method: "method",
  subject_id: "subject",
  side_effects: "side effects",
};

function problemsOf(error: unknown): string[] {
  if (error instanceof ApiError && error.validationErrors.length) return error.validationErrors;
  return [errorMessage(error)];
}

function savedMessage(running: boolean): string {
  return running ? "Policy saved; the running proxy reloaded it" : "Policy saved; it applies when the proxy starts";
}

export function PolicyTab({ proxy, status }: Props) {
  const { state } = useLive();
  const running = status === "running";
  const version = state.versions.policy[proxy.proxy_name] ?? 0;
  const policy = useAsync(() => endpoints.getPolicy(proxy.proxy_id), [proxy.proxy_id, version]);
  const [mode, setMode] = useState<"visual" | "raw">("visual");

  if (policy.error && !policy.data) return <ErrorState error={policy.error} onRetry={policy.reload} title="Could not load the policy" />;
  if (!policy.data) return <div className="skeleton skeleton-block" aria-busy="true" />;

  return (
    <div className="stack-lg">
      <div className="policy-head">
        <dl className="policy-facts">
          <div>
            <dt>Version</dt>
            <dd className="mono">{policy.data.version}</dd>
          </div>
          <div>
            <dt>Rules</dt>
            <dd>{policy.data.rules_count ?? policy.data.rules.length}</dd>
          </div>
          <div>
            <dt>Default action</dt>
            <dd>
              <span className="chip chip-danger">{policy.data.default_action}</span>
            </dd>
          </div>
          {policy.data.policy_version && (
            <div>
              <dt>History version</dt>
              <dd className="mono">{policy.data.policy_version}</dd>
            </div>
          )}
        </dl>
        <div className="segmented" role="group" aria-label="Editor">
          <button type="button" aria-pressed={mode === "visual"} onClick={() => setMode("visual")}>
            Visual editor
          </button>
          <button type="button" aria-pressed={mode === "raw"} onClick={() => setMode("raw")}>
            Raw JSON
          </button>
        </div>
      </div>
      {policy.data.policy_path && <p className="muted small mono">{policy.data.policy_path}</p>}
      {mode === "visual" ? (
        <VisualEditor proxy={proxy} policy={policy.data} running={running} reload={policy.reload} />
      ) : (
        <RawEditor proxy={proxy} policy={policy.data} running={running} reload={policy.reload} />
      )}
    </div>
  );
}

function VisualEditor({ proxy, policy, running, reload }: { proxy: ProxyDetail; policy: PolicyResponse; running: boolean; reload: () => void }) {
  const [editing, setEditing] = useState<{ rule: PolicyRule | null } | null>(null);
  const [deleting, setDeleting] = useState<PolicyRule | null>(null);

  const remove = async () => {
    if (!deleting?.id) return;
    try {
      await endpoints.deleteRule(proxy.proxy_id, deleting.id);
      toastSuccess(`Rule ${deleting.id} deleted. ${savedMessage(running)}`);
      reload();
    } catch (error) {
      toastError(error, "Could not delete the rule");
    }
    setDeleting(null);
  };

  return (
    <section aria-labelledby="rules-title">
      <div className="panel-header flat">
        <h2 id="rules-title" className="section-title">Rules</h2>
        <span className="muted small">Evaluated together: HITL beats deny, deny beats allow; no match is deny.</span>
        <div className="spacer" />
        <button type="button" className="button button-primary" onClick={() => setEditing({ rule: null })}>
          Add rule
        </button>
      </div>
      {policy.rules.length === 0 ? (
        <div className="empty compact">
          <p className="empty-title">No rules: everything is denied</p>
          <p className="muted">Add an allow rule for the tools this backend may use.</p>
        </div>
      ) : (
        <ul className="rule-list">
          {policy.rules.map((rule, index) => (
            <li key={rule.id ?? index} className={`rule-card rule-${rule.effect}`} data-testid="rule-card" data-rule-id={rule.id}>
              <div className="rule-head">
                <span className={`effect effect-${rule.effect}`}>{rule.effect === "hitl" ? "HITL" : rule.effect}</span>
                <div className="rule-title">
                  <span className="rule-description">{rule.description || <span className="muted">No description</span>}</span>
                  <code className="rule-id">{rule.id}</code>
                </div>
                <div className="row gap-sm">
                  <button type="button" className="button button-small" onClick={() => setEditing({ rule })}>
                    Edit
                  </button>
                  <button type="button" className="button button-small button-danger-outline" onClick={() => setDeleting(rule)}>
                    Delete
                  </button>
                </div>
              </div>
              <div className="conditions">
                {Object.entries(rule.conditions).map(([key, value]) => (
                  <span key={key} className="condition">
                    <span className="condition-key">{CONDITION_LABELS[key] ?? key}</span>
                    <span className="condition-value mono">{conditionText(value)}</span>
                  </span>
                ))}
                {rule.cache_side_effects && rule.cache_side_effects.length > 0 && (
                  <span className="condition">
                    <span className="condition-key">cacheable</span>
                    <span className="condition-value mono">{rule.cache_side_effects.join(", ")}</span>
                  </span>
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
      {editing && (
        <RuleDialog
          proxy={proxy}
          rule={editing.rule}
          running={running}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            reload();
          }}
        />
      )}
      <ConfirmDialog open={deleting !== null} title="Delete rule" confirmLabel="Delete rule" danger onConfirm={remove} onClose={() => setDeleting(null)}>
        <p>
          Delete rule <code>{deleting?.id}</code>
          {deleting?.description ? ` (${deleting.description})` : ""}? Requests it allowed will be denied unless another rule allows them.
        </p>
      </ConfirmDialog>
    </section>
  );
}

function RuleDialog({ proxy, rule, running, onClose, onSaved }: { proxy: ProxyDetail; rule: PolicyRule | null; running: boolean; onClose: () => void; onSaved: () => void }) {
  const [form, setForm] = useState<RuleForm>(() => (rule ? ruleToForm(rule) : emptyRuleForm));
  const [problems, setProblems] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const set = <K extends keyof RuleForm>(key: K, value: RuleForm[K]) => setForm((f) => ({ ...f, [key]: value }));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const local = ruleFormProblems(form);
    setProblems(local);
    if (local.length) return;
    setBusy(true);
    try {
      const body = formToRule(form);
      if (rule?.id) await endpoints.updateRule(proxy.proxy_id, rule.id, body);
      else await endpoints.addRule(proxy.proxy_id, body);
      toastSuccess(`${rule ? "Rule updated" : "Rule added"}. ${savedMessage(running)}`);
      onSaved();
    } catch (error) {
      setProblems(problemsOf(error));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog open title={rule ? "Edit rule" : "Add rule"} onClose={onClose} size="lg">
      <form className="form" onSubmit={submit} noValidate>
        <Field label="Description">{(id) => <input id={id} value={form.description} onChange={(e) => set("description", e.target.value)} placeholder="Read project files" />}</Field>
        <div className="form-grid">
          <Field label="Effect">
            {(id) => (
              <select id={id} value={form.effect} onChange={(e) => set("effect", e.target.value as RuleForm["effect"])}>
                <option value="allow">allow</option>
                <option value="deny">deny</option>
                <option value="hitl">hitl</option>
              </select>
            )}
          </Field>
          <Field label="Rule id" hint="Optional; generated when empty">
            {(id) => <input id={id} className="mono" value={form.id} onChange={(e) => set("id", e.target.value)} disabled={Boolean(rule?.id)} />}
          </Field>
        </div>
        <fieldset className="conditions-fieldset">
          <legend>Conditions <span className="muted small">(all must hold; commas separate alternatives)</span></legend>
          <div className="form-grid">
            <Field label="Tool name" hint="Glob, e.g. read_* or *">
              {(id) => <input id={id} className="mono" value={form.tool_name} onChange={(e) => set("tool_name", e.target.value)} autoComplete="off" />}
            </Field>
            <Field label="Path pattern" hint="Glob; ** crosses folders">
              {(id) => <input id={id} className="mono" value={form.path_pattern} onChange={(e) => set("path_pattern", e.target.value)} autoComplete="off" placeholder="/home/me/project/**" />}
            </Field>
          </div>
          <Field label="Operations" hint="read, write, delete">
            {(id) => <input id={id} className="mono" value={form.operations} onChange={(e) => set("operations", e.target.value)} autoComplete="off" placeholder="read" />}
          </Field>
          <details className="advanced">
            <summary>More conditions</summary>
            <div className="form-grid">
              <Field label="Source path">{(id) => <input id={id} className="mono" value={form.source_path} onChange={(e) => set("source_path", e.target.value)} />}</Field>
              <Field label="Destination path">{(id) => <input id={id} className="mono" value={form.dest_path} onChange={(e) => set("dest_path", e.target.value)} />}</Field>
              <Field label="Extension">{(id) => <input id={id} className="mono" value={form.extension} onChange={(e) => set("extension", e.target.value)} placeholder=".py" />}</Field>
              <Field label="MCP method">{(id) => <input id={id} className="mono" value={form.mcp_method} onChange={(e) => set("mcp_method", e.target.value)} placeholder="tools/call" />}</Field>
              <Field label="Subject id">{(id) => <input id={id} className="mono" value={form.subject_id} onChange={(e) => set("subject_id", e.target.value)} />}</Field>
              <Field label="Tool capabilities" hint="side_effects, e.g. fs_write, network_egress">
                {(id) => <input id={id} className="mono" value={form.side_effects} onChange={(e) => set("side_effects", e.target.value)} />}
              </Field>
            </div>
            {Object.keys(form.extra).length > 0 && (
              <p className="muted small">Also kept: {Object.entries(form.extra).map(([k, v]) => `${k} = ${conditionText(v)}`).join("; ")}</p>
            )}
          </details>
        </fieldset>
        {form.effect === "hitl" && (
          <Field label="Cacheable capabilities" hint="cache_side_effects (HITL only): approvals of tools with only these may be remembered">
            {(id) => <input id={id} className="mono" value={form.cache_side_effects} onChange={(e) => set("cache_side_effects", e.target.value)} placeholder="fs_read" />}
          </Field>
        )}
        {problems.length > 0 && (
          <div className="callout callout-error" role="alert">
            <strong>The rule was not saved:</strong>
            <ul className="plain-list">
              {problems.map((problem) => (
                <li key={problem}>{problem}</li>
              ))}
            </ul>
          </div>
        )}
        <div className="dialog-actions">
          <button type="button" className="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button button-primary" disabled={busy}>
            {busy && <span className="spinner" aria-hidden="true" />}
            Save rule
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function documentOf(policy: PolicyResponse): PolicyDocument {
  return { version: policy.version, default_action: policy.default_action, rules: policy.rules };
}

function RawEditor({ proxy, policy, running, reload }: { proxy: ProxyDetail; policy: PolicyResponse; running: boolean; reload: () => void }) {
  const original = JSON.stringify(documentOf(policy), null, 2);
  const [text, setText] = useState(original);
  const [problems, setProblems] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  useEffect(() => setText(original), [original]);
  const dirty = text !== original;

  const save = async () => {
    let parsed: PolicyDocument;
    try {
      parsed = JSON.parse(text) as PolicyDocument;
    } catch (error) {
      setProblems([`Not valid JSON: ${(error as Error).message}`]);
      return;
    }
    setBusy(true);
    setProblems([]);
    try {
      await endpoints.putPolicy(proxy.proxy_id, parsed);
      toastSuccess(savedMessage(running));
      reload();
    } catch (error) {
      setProblems(problemsOf(error));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="stack">
      <label htmlFor="policy-json" className="label">
        Policy JSON
      </label>
      <textarea
        id="policy-json"
        className={`code-editor mono${dirty ? " dirty" : ""}`}
        spellCheck={false}
        rows={Math.min(30, Math.max(12, text.split("\n").length + 1))}
        value={text}
        onChange={(e) => setText(e.target.value)}
      />
      {problems.length > 0 && (
        <div className="callout callout-error" role="alert">
          <strong>The policy was not saved:</strong>
          <ul className="plain-list">
            {problems.map((problem) => (
              <li key={problem}>{problem}</li>
            ))}
          </ul>
        </div>
      )}
      <div className="row gap">
        <button type="button" className="button button-primary" onClick={save} disabled={busy}>
          {busy && <span className="spinner" aria-hidden="true" />}
          Save policy
        </button>
        <button type="button" className="button" onClick={() => { setText(original); setProblems([]); }} disabled={!dirty}>
          Discard changes
        </button>
        {dirty && <span className="muted small">Unsaved changes</span>}
      </div>
    </section>
  );
}
