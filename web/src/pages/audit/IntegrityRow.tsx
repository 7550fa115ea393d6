import type { IntegrityFile } from "../../api/types";
import { plural } from "../../lib/format";

export type Tone = "protected" | "unprotected" | "broken";

const STATUS_TONE: Record<string, Tone> = {
  protected: "protected",
  unprotected: "unprotected",
  empty: "unprotected",
  not_created: "unprotected",
  broken: "broken",
  missing: "broken",
  error: "broken",
};

const SHIELD = "M10 2l6.5 2.5v5c0 4-2.8 7.3-6.5 8.5-3.7-1.2-6.5-4.5-6.5-8.5v-5z";

/** A shield: filled with a tick when protected, with "!" when broken, an outline otherwise. */
export function IntegrityIcon({ status }: { status: Tone }) {
  return (
    <svg className="integrity-icon" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true">
      {status === "unprotected" ? (
        <path d={SHIELD} fill="none" stroke="currentColor" strokeWidth="1.6" />
      ) : (
        <path d={SHIELD} fill="currentColor" />
      )}
      {status === "protected" && <path d="M7 10l2 2 4-4" fill="none" stroke="var(--surface)" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round" />}
      {status === "broken" && <path d="M10 6.5v4.5M10 13.5v.2" stroke="var(--surface)" strokeWidth="1.9" strokeLinecap="round" />}
    </svg>
  );
}

/** One audit log file: its hash-chain status, size and backups, and what is wrong with it. */
export function IntegrityRow({ file }: { file: IntegrityFile }) {
  const tone = STATUS_TONE[file.status] ?? "unprotected";
  return (
    <li className={`integrity-row integrity-${tone}`} data-testid="integrity-row" data-file={file.name} data-status={tone}>
      <IntegrityIcon status={tone} />
      <div className="integrity-info">
        <div className="integrity-name">
          <span className="mono">{file.name}</span>
          <span className={`integrity-status status-word-${tone}`}>{file.status.replace(/_/g, " ")}</span>
        </div>
        <div className="muted small">
          {file.description} · <span className="nowrap">{plural(file.entry_count, "entry", "entries")}</span>
          {file.backups.length > 0 && <span className="nowrap"> · {plural(file.backups.length, "backup")}</span>}
        </div>
        {file.errors.map((error) => (
          <div key={error} className="integrity-error small">{error}</div>
        ))}
      </div>
    </li>
  );
}
