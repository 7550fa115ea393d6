import { useEffect, useRef } from "react";
import { approvalLinkStatus, type LinkProxy } from "../state/approvalLink";
import { useLive, useNow } from "../state/LiveProvider";
import { ApprovalItem } from "./ApprovalItem";

interface Props {
  approvalId: string | null;
  proxy: LinkProxy;
  onDismiss: () => void;
  /** Show the proxy's audit log, where a decided or timed-out approval is recorded. */
  onShowAudit: () => void;
}

/** The approval a modern MCP client's link points at (`?approval=`), at the top of its proxy's
 * page: decide it here, or read why it is no longer pending. */
export function ApprovalLinkPanel({ approvalId, proxy, onDismiss, onShowAudit }: Props) {
  const { state, retry } = useLive();
  const now = useNow(500);
  const status = approvalLinkStatus(approvalId, state, proxy);
  const ref = useRef<HTMLElement>(null);

  // Bring it into view (and focus, for keyboards and screen readers) when it is found or closes.
  useEffect(() => {
    if (status.kind === "loading") return;
    ref.current?.scrollIntoView({ block: "nearest" });
    ref.current?.focus({ preventScroll: true });
  }, [status.kind]);

  const waiting = status.kind === "waiting";
  return (
    <section
      ref={ref}
      tabIndex={-1}
      className={`panel approval-link${waiting ? " approval-link-waiting" : ""}`}
      aria-labelledby="approval-link-title"
      data-testid="approval-link"
      data-state={status.kind}
    >
      <div className="panel-header">
        <h2 id="approval-link-title">{waiting ? "Your MCP client asks for approval" : "Approval from a link"}</h2>
        {approvalId && <span className="muted small mono">{approvalId}</span>}
        <button type="button" className="button button-ghost button-small approval-link-dismiss" onClick={onDismiss}>
          Dismiss
        </button>
      </div>
      {status.kind === "waiting" && (
        <>
          <p className="muted small panel-intro">
            A policy rule says a person must decide this request. Check it, decide here, then go back to your MCP client: its
            retry runs the call if you allowed it.
          </p>
          <ApprovalItem entry={status.entry} now={now} showProxy={status.entry.proxy_name !== proxy.name} />
        </>
      )}
      {status.kind === "loading" && (
        <p className="muted small" aria-busy="true">
          <span className="spinner" aria-hidden="true" /> Looking for approval {approvalId}…
        </p>
      )}
      {(status.kind === "closed" || status.kind === "gone" || status.kind === "offline") && (
        <div className={`callout callout-${status.tone}`} role="status">
          <p>
            <strong>{status.title}</strong>
          </p>
          <p>{status.detail}</p>
          <div className="row gap">
            {status.kind === "offline" ? (
              <button type="button" className="button button-small" onClick={retry}>
                Retry connection
              </button>
            ) : (
              <button type="button" className="button button-small" onClick={onShowAudit}>
                See the audit log
              </button>
            )}
          </div>
        </div>
      )}
    </section>
  );
}
