import { useState } from "react";
import type { DecisionVerb } from "../api/endpoints";
import type { PendingEntry } from "../state/live";
import { plural } from "../lib/format";
import { useLive } from "../state/LiveProvider";
import { approvalActions, type ApprovalAction, formatCountdown, remainingSeconds, targetOf, URGENT_SECONDS } from "../state/pending";
import { ApprovalArguments } from "./ApprovalArguments";

interface Props {
  entry: PendingEntry;
  now: number;
  showProxy?: boolean;
}

/** One waiting request: what, where, who, every argument, a countdown, and the decisions it
 * allows (Allow once first; the remembering one says what it remembers and for how long). */
export function ApprovalItem({ entry, now, showProxy = true }: Props) {
  const { decide } = useLive();
  const [busy, setBusy] = useState<DecisionVerb | null>(null);
  const left = remainingSeconds(entry, now);
  const urgent = left < URGENT_SECONDS;
  const target = targetOf(entry);
  const fraction = entry.timeout_seconds > 0 ? Math.min(1, left / entry.timeout_seconds) : 0;

  const act = async (verb: DecisionVerb) => {
    setBusy(verb);
    try {
      await decide(entry, verb);
    } finally {
      setBusy(null);
    }
  };

  const actions = approvalActions(entry);
  const remember = actions.find((action) => action.verb === "approve");
  const style: Record<ApprovalAction["kind"], string> = {
    primary: "button-primary",
    secondary: "",
    danger: "button-danger-outline",
  };

  return (
    <div className={`approval${urgent ? " approval-urgent" : ""}`} role="group" aria-label={`Approval for ${entry.tool_name} on ${entry.proxy_name}`}>
      <div className="approval-head">
        <div className="approval-main">
          <div className="approval-title">
            <span className="tool-name">{entry.tool_name}</span>
            {showProxy && <span className="chip chip-muted">{entry.proxy_name}</span>}
            {!remember && <span className="chip chip-outline">allow once only</span>}
          </div>
          {target && (
            <div className="approval-target mono" title={target}>
              {target}
            </div>
          )}
          <div className="approval-meta">
            <span>by {entry.subject_id}</span>
            {entry.side_effects && entry.side_effects.length > 0 && <span>· {entry.side_effects.join(", ")}</span>}
            {entry.rule_id && <span>· rule {entry.rule_id}</span>}
          </div>
        </div>
        <div className={`countdown${urgent ? " countdown-urgent" : ""}`} aria-label={`${plural(Math.ceil(left), "second")} left`}>
          <span className="countdown-text">{formatCountdown(left)}</span>
          <span className="countdown-bar" aria-hidden="true">
            <span style={{ width: `${fraction * 100}%` }} />
          </span>
        </div>
      </div>
      <ApprovalArguments entry={entry} />
      <div className="approval-actions">
        {actions.map((action) => (
          <button
            key={action.verb}
            type="button"
            title={action.description}
            data-action={action.verb}
            className={`button button-small ${style[action.kind]}`}
            disabled={busy !== null}
            onClick={() => act(action.verb)}
          >
            {busy === action.verb && <span className="spinner" aria-hidden="true" />}
            {action.label}
          </button>
        ))}
      </div>
    </div>
  );
}
