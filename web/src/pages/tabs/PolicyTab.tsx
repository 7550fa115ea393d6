import { useEffect, useState, type FormEvent } from "react";
import { errorList } from "../../api/client";
import { endpoints } from "../../api/endpoints";
import type { PolicyDocument, PolicyResponse, PolicyRule, ProxyDetail } from "../../api/types";
import { BusyButton } from "../../components/BusyButton";
import { ConfirmDialog, Dialog, SubmitActions } from "../../components/Dialog";
import { ErrorState } from "../../components/ErrorState";
import { SelectField, TextField } from "../../components/Field";
import { ProblemList } from "../../components/ProblemList";
import { conditionText } from "../../lib/format";
import { toastError, toastSuccess } from "../../lib/notify";
import { useAsync } from "../../lib/useAsync";
import { useBusy } from "../../lib/useBusy";
import { emptyRuleForm, formToRule, ruleFormProblems, ruleToForm, type RuleForm } from "../../state/forms";
import { useLive } from "../../state/LiveProvider";

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

const EFFECTS = ["allow", "deny", "hitl"] as const;

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
  const { busy, run } = useBusy();
  const set = <K extends keyof RuleForm>(key: K, value: RuleForm[K]) => setForm((f) => ({ ...f, [key]: value }));
  /** The value and setter of a text condition, for a monospace TextField. */
  const cond = (key: Exclude<keyof RuleForm, "effect" | "extra">) => ({ mono: true, value: form[key], onChange: (value: string) => set(key, value) });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const local = ruleFormProblems(form);
    setProblems(local);
    if (local.length) return;
    void run(async () => {
      const body = formToRule(form);
      if (rule?.id) await endpoints.updateRule(proxy.proxy_id, rule.id, body);
      else await endpoints.addRule(proxy.proxy_id, body);
      toastSuccess(`${rule ? "Rule updated" : "Rule added"}. ${savedMessage(running)}`);
      onSaved();
    }, (error) => setProblems(errorList(error)));
  };

  return (
    <Dialog open title={rule ? "Edit rule" : "Add rule"} onClose={onClose} size="lg">
      <form className="form" onSubmit={submit} noValidate>
        <TextField label="Description" value={form.description} onChange={(v) => set("description", v)} placeholder="Read project files" />
        <div className="form-grid">
          <SelectField label="Effect" value={form.effect} onChange={(v) => set("effect", v)} options={EFFECTS} />
          <TextField label="Rule id" hint="Optional; generated when empty" {...cond("id")} disabled={Boolean(rule?.id)} />
        </div>
        <fieldset className="conditions-fieldset">
          <legend>Conditions <span className="muted small">(all must hold; commas separate alternatives)</span></legend>
          <div className="form-grid">
            <TextField label="Tool name" hint="Glob, e.g. read_* or *" {...cond("tool_name")} autoComplete="off" />
            <TextField label="Path pattern" hint="Glob; ** crosses folders" {...cond("path_pattern")} autoComplete="off" placeholder="/home/me/project/**" />
          </div>
          <TextField label="Operations" hint="read, write, delete" {...cond("operations")} autoComplete="off" placeholder="read" />
          <details className="advanced">
            <summary>More conditions</summary>
            <div className="form-grid">
              <TextField label="Source path" {...cond("source_path")} />
              <TextField label="Destination path" {...cond("dest_path")} />
              <TextField label="Extension" {...cond("extension")} placeholder=".py" />
              <TextField label="MCP method" {...cond("mcp_method")} placeholder="tools/call" />
              <TextField label="Subject id" {...cond("subject_id")} />
              <TextField label="Tool capabilities" hint="side_effects, e.g. fs_write, network_egress" {...cond("side_effects")} />
            </div>
            {Object.keys(form.extra).length > 0 && (
              <p className="muted small">Also kept: {Object.entries(form.extra).map(([k, v]) => `${k} = ${conditionText(v)}`).join("; ")}</p>
            )}
          </details>
        </fieldset>
        {form.effect === "hitl" && (
          <TextField label="Cacheable capabilities" hint="cache_side_effects (HITL only): approvals of tools with only these may be remembered" {...cond("cache_side_effects")} placeholder="fs_read" />
        )}
        <ProblemList problems={problems} title="The rule was not saved:" />
        <SubmitActions label="Save rule" busy={busy} onCancel={onClose} />
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
  const { busy, run } = useBusy();
  useEffect(() => setText(original), [original]);
  const dirty = text !== original;

  const save = () => {
    let parsed: PolicyDocument;
    try {
      parsed = JSON.parse(text) as PolicyDocument;
    } catch (error) {
      setProblems([`Not valid JSON: ${(error as Error).message}`]);
      return;
    }
    setProblems([]);
    void run(async () => {
      await endpoints.putPolicy(proxy.proxy_id, parsed);
      toastSuccess(savedMessage(running));
      reload();
    }, (error) => setProblems(errorList(error)));
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
      <ProblemList problems={problems} title="The policy was not saved:" />
      <div className="row gap">
        <BusyButton className="button button-primary" busy={busy} onClick={save}>
          Save policy
        </BusyButton>
        <button type="button" className="button" onClick={() => { setText(original); setProblems([]); }} disabled={!dirty}>
          Discard changes
        </button>
        {dirty && <span className="muted small">Unsaved changes</span>}
      </div>
    </section>
  );
}
