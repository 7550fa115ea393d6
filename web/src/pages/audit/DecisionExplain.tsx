import type { LogEntry, ProxyDetail } from "../../api/types";
import { BusyButton } from "../../components/BusyButton";
import { explainDecision, recheckBody } from "../../state/explain";
import { ExplanationView } from "./ExplanationView";
import { useEvaluate } from "./useEvaluate";

const VERB: Record<string, string> = { allow: "allowed", deny: "denied" };

/** Why a logged decision was made, and what the current policy would decide instead. */
export function DecisionExplain({ proxy, entry, running, onClose }: { proxy: ProxyDetail; entry: LogEntry; running: boolean; onClose: () => void }) {
  const explanation = explainDecision(entry);
  const { result: recheck, problem, busy, evaluate } = useEvaluate(proxy.proxy_name);
  const body = recheckBody(entry);

  return (
    <div className="explain" data-testid="decision-explain" role="region" aria-label="Why this decision">
      <div className="explain-header">
        <h3>Why was this {VERB[explanation.decision] ?? "sent to a human"}?</h3>
        <button type="button" className="button button-small button-ghost" onClick={onClose}>
          Hide
        </button>
      </div>
      <ExplanationView explanation={explanation} />
      <div className="explain-recheck">
        <BusyButton
          className="button button-small"
          busy={busy}
          onClick={() => body && evaluate(body)}
          disabled={!body || !running}
          title={!running ? "The proxy must be running to evaluate" : undefined}
        >
          Re-check with the current policy
        </BusyButton>
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
