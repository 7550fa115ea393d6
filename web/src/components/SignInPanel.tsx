import { useLocation } from "react-router-dom";
import { approvalParam } from "../state/approvalLink";
import { CopyButton } from "./CopyButton";

/** Shown instead of the app when the browser has no valid API token cookie. */
export function SignInPanel() {
  // A modern MCP client's approval link opened in a browser that is not signed in (a new browser
  // session: the cookie is a session cookie): say how to get to the approval.
  const approval = approvalParam(useLocation().search);
  return (
    <div className="page-center">
      <section className="panel signin-panel" aria-labelledby="signin-title">
        <div className="brand-mark large" aria-hidden="true">
          <ShieldIcon />
        </div>
        <h1 id="signin-title">Sign in</h1>
        {approval && (
          <p className="callout callout-warning" role="status" data-testid="approval-link-signin">
            <strong>An approval is waiting behind this link</strong> (approval <code>{approval}</code>). Sign this browser in
            as below, then come back to this tab and reload it (the button at the bottom): the approval shows up, ready to
            decide. Until you decide, your MCP client's retry only shows the same link again.
          </p>
        )}
        <p className="muted">
          This browser is not signed in to the mcp-acp manager. Open the UI from your terminal; it signs this browser in
          with a one-time link:
        </p>
        <div className="code-line">
          <code>mcp-acp manager open</code>
          <CopyButton text="mcp-acp manager open" label="Copy command" />
        </div>
        <p className="muted small">
          The link works once, for two minutes. The sign-in lasts until you close the browser: the manager keeps its token
          across restarts, so restarting it does not sign you out.
        </p>
        <button type="button" className="button" onClick={() => window.location.reload()}>
          I have signed in, reload
        </button>
      </section>
    </div>
  );
}

export function ShieldIcon({ size = 20 }: { size?: number }) {
  return (
    <svg viewBox="0 0 24 24" width={size} height={size} aria-hidden="true">
      <path d="M12 2.5l8 3v6c0 5-3.4 9.1-8 10.5-4.6-1.4-8-5.5-8-10.5v-6z" fill="currentColor" opacity="0.95" />
      <path d="M8.5 12l2.4 2.4 4.6-4.8" fill="none" stroke="var(--brand-contrast)" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" />
    </svg>
  );
}
