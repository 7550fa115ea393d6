import type { LogsMetadata } from "../../api/types";
import { Field, SelectField, TextField } from "../../components/Field";

const FALLBACK_TYPES = [
  { folder: "audit", types: ["decisions", "operations", "auth"] },
  { folder: "system", types: ["system", "config_history", "policy_history"] },
];
const TYPE_LABELS: Record<string, string> = {
  decisions: "Decisions",
  operations: "Operations",
  auth: "Authentication",
  system: "System",
  config_history: "Config history",
  policy_history: "Policy history",
  client_wire: "Client wire (debug)",
  backend_wire: "Backend wire (debug)",
};
const TIME_RANGES = [
  { value: "5m", label: "Last 5 minutes" },
  { value: "1h", label: "Last hour" },
  { value: "24h", label: "Last 24 hours" },
  { value: "all", label: "All time" },
];
const DECISIONS = ["allow", "deny", "hitl"];
const HITL_OUTCOMES = [
  { value: "user_allowed", label: "user allowed" },
  { value: "user_denied", label: "user denied" },
  { value: "timeout", label: "timeout" },
];
const LEVELS = ["WARNING", "ERROR", "CRITICAL"];

export interface LogFilters {
  decision: string;
  hitl_outcome: string;
  level: string;
  session_id: string;
  request_id: string;
  policy_version: string;
  config_version: string;
}
export const NO_FILTERS: LogFilters = { decision: "", hitl_outcome: "", level: "", session_id: "", request_id: "", policy_version: "", config_version: "" };

interface Props {
  metadata: LogsMetadata | undefined;
  type: string;
  onType: (type: string) => void;
  range: string;
  onRange: (range: string) => void;
  filters: LogFilters;
  onFilters: (filters: LogFilters) => void;
}

/** Which log, which time range, and the filters that apply to it. */
export function LogControls({ metadata, type, onType, range, onRange, filters, onFilters }: Props) {
  const folders = metadata?.folders?.length
    ? metadata.folders.map((folder) => ({ folder: folder.name, types: folder.files.map((file) => file.name) }))
    : FALLBACK_TYPES;
  const filter = (key: keyof LogFilters) => ({ value: filters[key], onChange: (value: string) => onFilters({ ...filters, [key]: value }) });
  const activeFilters = Object.values(filters).filter((value) => value.trim()).length;

  return (
    <>
      <div className="log-controls">
        <Field label="Log">
          {(id) => (
            <select id={id} value={type} onChange={(e) => onType(e.target.value)}>
              {folders.map((group) => (
                <optgroup key={group.folder} label={group.folder}>
                  {group.types.map((t) => (
                    <option key={t} value={t}>
                      {TYPE_LABELS[t] ?? t}
                    </option>
                  ))}
                </optgroup>
              ))}
            </select>
          )}
        </Field>
        <SelectField label="Time range" value={range} onChange={onRange} options={TIME_RANGES} />
        {type === "decisions" && (
          <>
            <SelectField label="Decision" any="Any" options={DECISIONS} {...filter("decision")} />
            <SelectField label="HITL outcome" any="Any" options={HITL_OUTCOMES} {...filter("hitl_outcome")} />
          </>
        )}
        {type === "system" && <SelectField label="Level" any="Any" options={LEVELS} {...filter("level")} />}
      </div>
      <details className="advanced filters-more">
        <summary>More filters{activeFilters ? ` (${activeFilters} active)` : ""}</summary>
        <div className="log-controls">
          <TextField label="Session id" mono {...filter("session_id")} />
          <TextField label="Request id" mono {...filter("request_id")} />
          <SelectField label="Policy version" any="Any" options={metadata?.available_policy_versions ?? []} {...filter("policy_version")} />
          <SelectField label="Config version" any="Any" options={metadata?.available_config_versions ?? []} {...filter("config_version")} />
          {activeFilters > 0 && (
            <button type="button" className="button button-small button-ghost align-end" onClick={() => onFilters(NO_FILTERS)}>
              Clear filters
            </button>
          )}
        </div>
      </details>
    </>
  );
}
