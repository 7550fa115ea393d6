import type { LogEntry } from "../../api/types";

/** The chip tone of a policy effect or decision. */
export function effectTone(effect: string, otherwise: "warning" | "muted" = "muted"): "success" | "danger" | "warning" | "muted" {
  return effect === "allow" ? "success" : effect === "deny" ? "danger" : effect === "hitl" ? "warning" : otherwise;
}

/** allow / deny / hitl, with the human's answer to a HITL request. */
export function DecisionBadge({ entry }: { entry: LogEntry | { decision?: unknown } }) {
  const decision = String((entry as LogEntry).decision ?? "–");
  const outcome = (entry as LogEntry).hitl_outcome;
  return (
    <span className={`chip chip-${effectTone(decision)}`}>
      {decision}
      {typeof outcome === "string" && outcome ? <span className="chip-extra"> · {outcome.replace(/_/g, " ")}</span> : null}
    </span>
  );
}

/** The level (or status) of a log entry that is not a decision. */
export function LevelChip({ entry }: { entry: LogEntry }) {
  const level = typeof entry.level === "string" ? entry.level : typeof entry.status === "string" ? entry.status : null;
  if (!level) return null;
  const upper = level.toUpperCase();
  const tone = upper === "ERROR" || upper === "CRITICAL" || upper === "FAILURE" ? "danger" : upper === "WARNING" ? "warning" : upper === "SUCCESS" ? "success" : "muted";
  return <span className={`chip chip-${tone}`}>{level}</span>;
}
