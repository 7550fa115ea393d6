import { useState, type FormEvent } from "react";
import type { ProxyDetail } from "../../api/types";
import { BusyButton } from "../../components/BusyButton";
import { Field, TextField } from "../../components/Field";
import { explainDecision, testRequestBody } from "../../state/explain";
import { ExplanationView } from "./ExplanationView";
import { useEvaluate } from "./useEvaluate";

/** "Test a request": what the policy would decide about a tool call, without running it. */
export function DryRunForm({ proxy, running }: { proxy: ProxyDetail; running: boolean }) {
  const [tool, setTool] = useState("");
  const [path, setPath] = useState("");
  const [args, setArgs] = useState("");
  const { result, setResult, problem, setProblem, busy, evaluate } = useEvaluate(proxy.proxy_name);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const { body, problem: invalid } = testRequestBody(tool, path, args);
    setProblem(invalid ?? null);
    setResult(null);
    if (body) evaluate(body);
  };

  return (
    <section className="panel" aria-labelledby="test-title">
      <div className="panel-header">
        <h2 id="test-title">Test a request</h2>
      </div>
      <p className="muted small panel-intro">Ask this proxy's policy engine what it would decide, without running the tool.</p>
      <form className="form" onSubmit={submit}>
        <TextField label="Tool name" mono value={tool} onChange={setTool} placeholder="read_file" autoComplete="off" />
        <TextField label="Path" hint="Optional" mono value={path} onChange={setPath} placeholder="/tmp/notes.txt" autoComplete="off" />
        <Field label="Arguments (JSON)" hint={'Optional, e.g. {"query": "x"}'}>
          {(id) => <textarea id={id} className="mono" rows={3} value={args} onChange={(e) => setArgs(e.target.value)} placeholder="{}" />}
        </Field>
        <div className="row gap">
          <BusyButton type="submit" className="button button-primary" busy={busy} disabled={!running}>
            Evaluate
          </BusyButton>
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
