import type { ReplayReport } from "../../api/types";

/** What a candidate policy would change in the proxy's recorded requests (POST …/policy/replay, the
 * report `mcp-acp policy replay --json` prints): counts by old → new outcome, and examples, each
 * linked to its audit entry (file and sequence). Shown before the policy is saved. */
export function PolicyPreview({ report }: { report: ReplayReport }) {
  const reasons = Object.entries(report.not_redecidable_reasons);
  return (
    <div className={`callout ${report.changed ? "callout-warning" : "callout-success"}`} data-testid="policy-preview">
      <p>
        <strong>
          {report.changed === 0
            ? "No recorded decision would change."
            : `${report.changed} of ${report.redecided} recorded decisions would change.`}
        </strong>{" "}
        <span className="muted small">
          {report.entries} recorded; {report.unchanged} unchanged, {report.same_outcome_other_rule} same outcome by
          another rule, {report.not_decided_by_policy} not decided by the policy.
        </span>
      </p>
      {reasons.length > 0 && (
        <p className="small">
          {report.not_redecidable} cannot be re-decided exactly:{" "}
          {reasons.map(([reason, count]) => `${count} × ${reason}`).join("; ")}
        </p>
      )}
      {report.changes.map((change) => (
        <div key={`${change.from}-${change.to}`} data-testid={`preview-${change.from}-${change.to}`}>
          <p>
            <strong>
              {change.from} → {change.to}
            </strong>
            : {change.count}
          </p>
          <ul className="plain-list small">
            {change.examples.map((example) => (
              <li key={`${example.file}#${example.sequence}`}>
                <span className="mono">{example.tool_name ?? example.mcp_method}</span>
                {example.paths?.length ? <span className="mono"> {example.paths.join(", ")}</span> : null} as{" "}
                {example.subject_id}: {example.old.rule} → {example.new.rule}
                {example.new.reason ? ` (${example.new.reason})` : ""}{" "}
                <span className="muted mono" title={`request ${example.request_id ?? "?"} at ${example.time ?? "?"}`}>
                  {example.file} #{example.sequence}
                </span>
              </li>
            ))}
          </ul>
        </div>
      ))}
    </div>
  );
}
