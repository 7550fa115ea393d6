import { Fragment } from "react";
import type { Explanation } from "../../state/explain";
import { DecisionBadge, effectTone } from "./DecisionBadge";

/** A decision, the rule that made it, every matched rule and the context it was made in. */
export function ExplanationView({ explanation, title }: { explanation: Explanation; title?: string }) {
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
      {explanation.labelSources.length > 0 && (
        <>
          <h4 className="explain-subtitle">Labels set by earlier requests</h4>
          <ul className="matched-list">
            {explanation.labelSources.map((source) => (
              <li key={source.label}>
                <span className="chip chip-outline">{source.label}</span>
                <code>{source.toolName}</code>
                {source.target && <span className="mono small">{source.target}</span>}
                <span className="muted small">
                  request {source.requestId ?? "?"}
                  {source.at && `, ${source.at}`}
                </span>
              </li>
            ))}
          </ul>
        </>
      )}
      <h4 className="explain-subtitle">Matched rules ({explanation.matched.length})</h4>
      {explanation.matched.length === 0 ? (
        <p className="muted small">No rule matched this request.</p>
      ) : (
        <ul className="matched-list">
          {explanation.matched.map((rule) => (
            <li key={rule.id} className={rule.final ? "matched-final" : ""}>
              <span className={`chip chip-${effectTone(rule.effect, "warning")}`}>{rule.effect}</span>
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
