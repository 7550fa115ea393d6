import { useEffect, useState } from "react";
import { TextField } from "../../components/Field";
import { formatCount } from "../../lib/format";
import {
  LIMIT_DEFAULTS,
  LIMIT_RULES,
  type LimitField,
  type LimitProblems,
  parseLimit,
  perToolFromRows,
  rowsFromPerTool,
  type ToolLimitRow,
} from "../../state/limits";

interface Props {
  /** The draft's `limits` block (may be missing: every default applies). */
  limits: Record<string, unknown> | undefined;
  /** A field changed: undefined removes it, so its default applies. */
  onField: (field: LimitField, value: number | string | undefined) => void;
  onPerTool: (perTool: Record<string, number | string>) => void;
  rows: ToolLimitRow[];
  onRows: (rows: ToolLimitRow[]) => void;
  problems: LimitProblems;
}

/** The rate limits of one proxy: the request bucket, the per-tool window and its overrides. */
export function LimitsSection({ limits, onField, onPerTool, rows, onRows, problems }: Props) {
  const text = (field: LimitField) => {
    const value = limits?.[field];
    return value === undefined || value === null ? "" : String(value);
  };
  const numberField = (field: LimitField, extra: { step?: string; hint: string }) => (
    <TextField
      label={LIMIT_RULES[field].label}
      type="number"
      inputMode="decimal"
      step={extra.step ?? "any"}
      placeholder={`${LIMIT_DEFAULTS[field]} (default)`}
      hint={extra.hint}
      error={problems.fields[field]}
      value={text(field)}
      onChange={(next) => onField(field, parseLimit(next))}
    />
  );
  const setRows = (next: ToolLimitRow[]) => {
    onRows(next);
    onPerTool(perToolFromRows(next));
  };
  const threshold = Number(text("tool_calls_per_window") || LIMIT_DEFAULTS.tool_calls_per_window);
  const window = Number(text("window_seconds") || LIMIT_DEFAULTS.window_seconds);

  return (
    <fieldset className="config-section" aria-describedby="limits-help">
      <legend>Rate limits</legend>
      <div className="stack">
        <p id="limits-help" className="muted small">
          Every request takes a token from a bucket of <em>burst</em> tokens that refills at <em>requests per second</em>; an empty bucket refuses
          the request. Calls of one tool in one session are counted over a sliding window: the call over the limit
          {!problems.fields.tool_calls_per_window && !problems.fields.window_seconds && Number.isFinite(threshold) && Number.isFinite(window) ? ` (now the ${ordinal(threshold + 1)} within ${formatCount(window)} s)` : ""} waits
          for a person's approval, and is denied when nobody is there to approve it. Leave a field blank for its default.
        </p>
        <div className="form-grid">
          {numberField("requests_per_second", { hint: "Sustained rate of all requests, above 0" })}
          {numberField("burst", { step: "1", hint: "Requests allowed at once" })}
          {numberField("tool_calls_per_window", { step: "1", hint: "Calls of one tool before a person is asked" })}
          {numberField("window_seconds", { hint: "1 to 3,600" })}
        </div>
        <div className="tool-limits">
          <div className="label">Per-tool limits</div>
          {rows.length === 0 ? (
            <p className="muted small">No tool has a limit of its own.</p>
          ) : (
            rows.map((row, index) => (
              <div className="tool-limit-row" key={index} data-testid="tool-limit">
                <TextField
                  label="Tool name"
                  mono
                  value={row.tool}
                  error={problems.rows[index]?.tool}
                  onChange={(tool) => setRows(rows.map((r, i) => (i === index ? { ...r, tool } : r)))}
                />
                <TextField
                  label="Calls per window"
                  type="number"
                  step="1"
                  value={row.limit}
                  error={problems.rows[index]?.limit}
                  onChange={(limit) => setRows(rows.map((r, i) => (i === index ? { ...r, limit } : r)))}
                />
                <button
                  type="button"
                  className="button button-small button-danger-outline"
                  aria-label={`Remove the limit of ${row.tool || `row ${index + 1}`}`}
                  onClick={() => setRows(rows.filter((_, i) => i !== index))}
                >
                  Remove
                </button>
              </div>
            ))
          )}
          <div>
            <button type="button" className="button button-small" onClick={() => setRows([...rows, { tool: "", limit: "" }])}>
              Add tool limit
            </button>
          </div>
        </div>
      </div>
    </fieldset>
  );
}

function ordinal(n: number): string {
  const rest = n % 100;
  const suffix = rest >= 11 && rest <= 13 ? "th" : ({ 1: "st", 2: "nd", 3: "rd" } as Record<number, string>)[n % 10] ?? "th";
  return `${formatCount(n)}${suffix}`;
}

/** Rows of the per-tool table, kept as typed (blank or duplicate rows included), and reset
 * when the saved per_tool changes under them (a reload, Discard). */
export function useToolLimitRows(perTool: unknown): [ToolLimitRow[], (rows: ToolLimitRow[]) => void] {
  const [rows, setRows] = useState<ToolLimitRow[]>(() => rowsFromPerTool(perTool));
  const external = JSON.stringify(perTool ?? {});
  useEffect(() => {
    setRows((current) => (JSON.stringify(perToolFromRows(current)) === external ? current : rowsFromPerTool(JSON.parse(external))));
  }, [external]);
  return [rows, setRows];
}
