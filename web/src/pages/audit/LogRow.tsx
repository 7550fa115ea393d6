import type { LogEntry, ProxyDetail } from "../../api/types";
import { formatTime } from "../../lib/format";
import { isDecisionEntry, subjectOf, summarizeEntry } from "../../state/explain";
import { DecisionBadge, LevelChip } from "./DecisionBadge";
import { DecisionExplain } from "./DecisionExplain";

interface Props {
  proxy: ProxyDetail;
  running: boolean;
  type: string;
  entry: LogEntry;
  expanded: boolean;
  onToggle: () => void;
  explaining: boolean;
  onExplain: (open: boolean) => void;
}

/** One log entry: a summary line that expands to the JSON, and "Why?" on decisions. */
export function LogRow({ proxy, running, type, entry, expanded, onToggle, explaining, onExplain }: Props) {
  const decision = isDecisionEntry(entry);
  const subject = subjectOf(entry);
  return (
    <li className={`log-row${expanded ? " expanded" : ""}`} data-testid="log-row">
      <div className="log-row-head">
        <button type="button" className="log-toggle" aria-expanded={expanded} onClick={onToggle}>
          <svg viewBox="0 0 20 20" width="12" height="12" aria-hidden="true" className="chevron">
            <path d="M7.5 5l5 5-5 5" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" />
          </svg>
          <span className="log-time mono">{formatTime(entry.time)}</span>
          {decision ? <DecisionBadge entry={entry} /> : <LevelChip entry={entry} />}
          {subject && (
            <span className="log-subject mono" title={`Principal: ${subject}`} data-testid="log-subject">
              <span className="sr-only">Principal </span>
              {subject}
            </span>
          )}
          <span className="log-summary mono">{summarizeEntry(type, entry)}</span>
          <span className="sr-only">{expanded ? "Hide details" : "Show details"}</span>
        </button>
        {decision && (
          <button type="button" className="button button-small button-ghost why-button" aria-expanded={explaining} onClick={() => onExplain(!explaining)}>
            Why?
          </button>
        )}
      </div>
      {explaining && <DecisionExplain proxy={proxy} entry={entry} running={running} onClose={() => onExplain(false)} />}
      {expanded && <pre className="code-block log-json">{JSON.stringify(entry, null, 2)}</pre>}
    </li>
  );
}
