import { useEffect, useState } from "react";
import { errorMessage } from "../../api/client";
import { endpoints } from "../../api/endpoints";
import type { ProxyDetail, VerifyResult } from "../../api/types";
import { BusyButton } from "../../components/BusyButton";
import { ConfirmDialog } from "../../components/Dialog";
import { plural } from "../../lib/format";
import { toastError, toastSuccess, toastWarning } from "../../lib/notify";
import { useAsync } from "../../lib/useAsync";
import { useBusy } from "../../lib/useBusy";
import { useLive } from "../../state/LiveProvider";
import { IntegrityIcon, IntegrityRow, type Tone } from "./IntegrityRow";

const OVERALL: Record<string, { tone: Tone; text: string }> = {
  passed: { tone: "protected", text: "All logs protected" },
  failed: { tone: "broken", text: "Integrity broken" },
};
const NOTHING_PROTECTED = { tone: "unprotected" as const, text: "No protected logs yet" };

/** The hash chains of the audit logs: verify them, and repair a broken one. */
export function IntegrityPanel({ proxy, onIntegrity }: { proxy: ProxyDetail; onIntegrity: (issues: boolean) => void }) {
  const { state } = useLive();
  const liveStatus = state.proxies[proxy.proxy_name]?.status;
  const verify = useAsync(() => endpoints.verifyAudit(proxy.proxy_id), [proxy.proxy_id, liveStatus]);
  const [confirm, setConfirm] = useState(false);
  const { busy: repairing, run } = useBusy();
  const result: VerifyResult | undefined = verify.data;

  const failed = result?.overall_status === "failed";
  useEffect(() => onIntegrity(Boolean(failed)), [failed, onIntegrity]);

  const repair = () =>
    run(async () => {
      const outcome = await endpoints.repairAudit(proxy.proxy_id);
      if (outcome.success) toastSuccess(outcome.message);
      else toastWarning(outcome.message);
      setConfirm(false);
      verify.reload();
    }, (error) => {
      toastError(error, "Repair failed");
      setConfirm(false);
    });

  const overall = result ? OVERALL[result.overall_status] ?? NOTHING_PROTECTED : null;

  return (
    <section className={`panel${failed ? " panel-alert" : ""}`} aria-labelledby="integrity-title">
      <div className="panel-header">
        <h2 id="integrity-title">Log integrity</h2>
        <div className="spacer" />
        <BusyButton className="button button-small" busy={verify.loading} onClick={verify.reload}>
          Verify
        </BusyButton>
        <button type="button" className="button button-small" onClick={() => setConfirm(true)}>
          Repair
        </button>
      </div>
      {verify.error && !result ? (
        <p className="callout callout-error small" role="alert">{errorMessage(verify.error)}</p>
      ) : !result || !overall ? (
        <p className="muted panel-empty">Verifying hash chains…</p>
      ) : (
        <>
          <div className={`integrity-overall integrity-${overall.tone}`} data-testid="integrity-overall">
            <IntegrityIcon status={overall.tone} />
            <span>
              <strong>{overall.text}</strong>
              <span className="muted small block">
                {plural(result.totals.entries ?? 0, "entry", "entries")} in {plural(result.totals.files ?? result.files.length, "file")} · status: {overall.tone}
              </span>
            </span>
          </div>
          {result.state_error && <p className="callout callout-error small">{result.state_error}</p>}
          {(result.trail_errors ?? []).map((error) => (
            <p key={error} className="callout callout-error small" data-testid="integrity-trail-error">{error}</p>
          ))}
          {(result.repairs ?? []).length > 0 && (
            <ul className="muted small" data-testid="integrity-repairs">
              {(result.repairs ?? []).map((done, index) => (
                <li key={index}>
                  Repaired {done.time}: {done.file ?? "trail record"} {done.action}
                  {done.entries_lost ? `, ${done.entries_lost} entries lost` : ""}
                </li>
              ))}
            </ul>
          )}
          <ul className="integrity-list">
            {result.files.map((file) => (
              <IntegrityRow key={file.name} file={file} />
            ))}
          </ul>
        </>
      )}
      <ConfirmDialog open={confirm} title="Repair audit logs" confirmLabel="Repair" busy={repairing} onConfirm={repair} onClose={() => setConfirm(false)}>
        <p>Repair resynchronises the integrity state with the logs. A log whose hash chain is broken is renamed to a <code>.broken.&lt;time&gt;.jsonl</code> backup and a fresh log is started. Log content is never edited.</p>
        <p className="muted small">The proxy must be stopped. Verify again afterwards.</p>
      </ConfirmDialog>
    </section>
  );
}
