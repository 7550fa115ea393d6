import { useState, type FormEvent } from "react";
import { ApiError, errorList, errorMessage } from "../../api/client";
import { endpoints } from "../../api/endpoints";
import type { BackendTool, PolicyDocument, PolicyResponse, PolicyRule, ProxyDetail } from "../../api/types";
import { ConfirmDialog, Dialog, SubmitActions } from "../../components/Dialog";
import { ErrorState } from "../../components/ErrorState";
import { SelectField, TextField } from "../../components/Field";
import { ProblemList } from "../../components/ProblemList";
import { conditionText } from "../../lib/format";
import { toastError, toastSuccess } from "../../lib/notify";
import { useAsync, type AsyncState } from "../../lib/useAsync";
import { useBusy } from "../../lib/useBusy";
import { emptyRuleForm, formToRule, ruleFormProblems, ruleToForm, type RuleForm } from "../../state/forms";
import { useLive } from "../../state/LiveProvider";
import { keptVersionText } from "../../state/policyText";
import { PolicyTextEditor } from "./PolicyTextEditor";

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

  if (policy.error instanceof ApiError && policy.error.code === "POLICY_INVALID") {
    return <BrokenPolicy proxy={proxy} version={version} onFixed={policy.reload} />;
  }
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

  // The backend's real tools (the manager asks the server itself; a STDIO server is started for it).
  const tools = useAsync(() => endpoints.backendTools(proxy.proxy_id), [proxy.proxy_id]);
  const toolListId = `tool-names-${proxy.proxy_id}`;

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
            <div className="stack-sm">
              <TextField label="Tool name" hint="Glob, e.g. read_* or *" {...cond("tool_name")} autoComplete="off" list={toolListId} />
              <ToolSuggestions tools={tools} value={form.tool_name} onPick={(name) => set("tool_name", name)} />
            </div>
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
        <datalist id={toolListId}>
          {tools.data?.tools.map((tool) => (
            <option key={tool.name} value={tool.name}>
              {tool.title ?? tool.description ?? ""}
            </option>
          ))}
        </datalist>
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
  return (
    <PolicyTextEditor
      proxy={proxy}
      initial={original}
      onSaved={() => {
        toastSuccess(savedMessage(running));
        reload();
      }}
    />
  );
}

/** policy.json cannot be used: the file as it is, every problem at its line, and what runs meanwhile. */
function BrokenPolicy({ proxy, version, onFixed }: { proxy: ProxyDetail; version: number; onFixed: () => void }) {
  const raw = useAsync(() => endpoints.rawPolicy(proxy.proxy_id), [proxy.proxy_id, version]);
  if (raw.error && !raw.data) return <ErrorState error={raw.error} onRetry={raw.reload} title="Could not read the policy file" />;
  if (!raw.data) return <div className="skeleton skeleton-block" aria-busy="true" />;
  const { text, problems, policy_path, running, running_policy_version } = raw.data;
  return (
    <div className="stack-lg" data-testid="broken-policy">
      <div className="callout callout-error" role="alert">
        <strong>The policy file is invalid.</strong> Fix it below; it is checked as you type. <span data-testid="kept-version">{keptVersionText(running, running_policy_version)}</span>
      </div>
      <p className="muted small mono">{policy_path}</p>
      <PolicyTextEditor
        proxy={proxy}
        initial={text}
        initialProblems={problems}
        onSaved={() => {
          toastSuccess(savedMessage(running));
          onFixed();
        }}
      />
    </div>
  );
}

const MAX_SUGGESTIONS = 12;

/** The backend's tool names that fit what is typed (its last comma-separated part), one click each. */
function ToolSuggestions({ tools, value, onPick }: { tools: AsyncState<{ proxy: string; tools: BackendTool[] }>; value: string; onPick: (value: string) => void }) {
  if (tools.error) {
    return <p className="muted small" data-testid="tool-suggestions-error">The backend's tools could not be listed: {errorMessage(tools.error)}</p>;
  }
  if (!tools.data) return <p className="muted small">Asking the backend for its tools…</p>;
  const parts = value.split(",");
  const typed = parts[parts.length - 1].trim().toLowerCase();
  const fitting = tools.data.tools.filter((tool) => !typed || tool.name.toLowerCase().includes(typed.replace(/[*?]/g, "")));
  if (tools.data.tools.length === 0) return <p className="muted small">The backend offers no tools.</p>;
  const pick = (name: string) => onPick([...parts.slice(0, -1).map((p) => p.trim()), name].filter(Boolean).join(", "));
  return (
    <div className="tool-suggestions" role="group" aria-label="The backend's tools">
      <span className="muted small">This backend's tools:</span>
      {fitting.slice(0, MAX_SUGGESTIONS).map((tool) => (
        <button
          key={tool.name}
          type="button"
          className={`chip chip-button${tool.annotations?.destructiveHint ? " chip-danger" : tool.annotations?.readOnlyHint ? " chip-success" : ""}`}
          title={tool.description ?? undefined}
          aria-label={`Use tool ${tool.name}`}
          onClick={() => pick(tool.name)}
        >
          <span className="mono">{tool.name}</span>
        </button>
      ))}
      {fitting.length > MAX_SUGGESTIONS && <span className="muted small">and {fitting.length - MAX_SUGGESTIONS} more</span>}
      {fitting.length === 0 && <span className="muted small">No tool of this backend matches.</span>}
    </div>
  );
}
