import { useEffect, useState } from "react";
import { endpoints } from "../api/endpoints";
import type { DeviceFlowStart } from "../api/types";
import { CopyButton } from "../components/CopyButton";
import { Dialog } from "../components/Dialog";
import { ErrorState } from "../components/ErrorState";
import { toastError, toastInfo } from "../lib/notify";
import { useAsync } from "../lib/useAsync";
import { authView } from "../state/auth";
import { useLive } from "../state/LiveProvider";

export function AuthPage() {
  const { state } = useLive();
  const status = useAsync(() => endpoints.authStatus(), [state.versions.auth]);
  const [flow, setFlow] = useState<DeviceFlowStart | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  // The device flow completes through SSE (auth_login / auth_login_failed), which bumps versions.auth.
  useEffect(() => {
    if (flow) setFlow(null);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [state.versions.auth]);

  const login = async () => {
    setBusy("login");
    try {
      const started = await endpoints.login();
      setFlow(started);
      window.open(started.verification_uri_complete ?? started.verification_uri, "_blank", "noopener,noreferrer");
    } catch (error) {
      toastError(error, "Could not start the login");
    } finally {
      setBusy(null);
    }
  };
  const logout = async (federated: boolean) => {
    setBusy(federated ? "federated" : "logout");
    try {
      const result = federated ? await endpoints.logoutFederated() : await endpoints.logout();
      toastInfo(result.message);
      const url = (result as { logout_url?: string }).logout_url;
      if (federated && url) window.open(url, "_blank", "noopener,noreferrer");
      status.reload();
    } catch (error) {
      toastError(error, "Logout failed");
    } finally {
      setBusy(null);
    }
  };

  const data = status.data;
  const view = data ? authView(data) : null;
  return (
    <div className="page narrow">
      <div className="page-header">
        <div>
          <h1>Authentication</h1>
          <p className="muted">Who the proxies act for. Approvals and policies use this identity as the subject.</p>
        </div>
      </div>
      {status.error && !data ? (
        <ErrorState error={status.error} onRetry={status.reload} />
      ) : !data || !view ? (
        <div className="skeleton skeleton-block" aria-busy="true" />
      ) : (
        <>
          <section className="panel" aria-labelledby="auth-status-title">
            <div className="panel-header">
              <h2 id="auth-status-title">Status</h2>
              <span className={`chip chip-${view.chip.tone}`} data-testid="auth-mode">{view.chip.label}</span>
            </div>
            {view.note && <p className="callout callout-info small" data-testid="auth-note">{view.note}</p>}
            {!data.configured && (
              <p className="muted small">
                To sign in with an identity provider, run <code>mcp-acp init --auth oidc</code> (it names the flags it
                needs) and restart the manager.
              </p>
            )}
            <dl className="kv">
              {view.showIdentity && (
                <>
                  <dt>Name</dt>
                  <dd>{data.name ?? "–"}</dd>
                  <dt>Email</dt>
                  <dd>{data.email ?? "–"}</dd>
                  <dt>Subject</dt>
                  <dd className="mono">{data.subject_id ?? "–"}</dd>
                  <dt>Token expires in</dt>
                  <dd>{data.token_expires_in_hours !== null ? `${data.token_expires_in_hours} h` : "–"}</dd>
                  <dt>Refresh token</dt>
                  <dd>{data.has_refresh_token ? "yes" : "no"}</dd>
                </>
              )}
              <dt>Secret storage</dt>
              <dd>{data.storage_backend}</dd>
            </dl>
            <div className="row gap">
              {data.configured && (
                <button type="button" className="button button-primary" onClick={login} disabled={busy !== null}>
                  {busy === "login" && <span className="spinner" aria-hidden="true" />}
                  {data.authenticated ? "Log in again" : "Log in"}
                </button>
              )}
              {data.authenticated && (
                <>
                  <button type="button" className="button" onClick={() => logout(false)} disabled={busy !== null}>
                    Log out
                  </button>
                  <button type="button" className="button" onClick={() => logout(true)} disabled={busy !== null}>
                    Log out (federated)
                  </button>
                </>
              )}
            </div>
          </section>
          {data.configured && (
            <section className="panel" aria-labelledby="oidc-title">
              <div className="panel-header">
                <h2 id="oidc-title">Identity provider</h2>
                <span className="muted small">read-only; change with <code>mcp-acp init</code></span>
              </div>
              <dl className="kv">
                <dt>Issuer</dt>
                <dd className="mono">{data.provider ?? "–"}</dd>
                <dt>Client id</dt>
                <dd className="mono">{data.client_id ?? "–"}</dd>
                <dt>Audience</dt>
                <dd className="mono">{data.audience ?? "–"}</dd>
                <dt>Scopes</dt>
                <dd className="mono">{data.scopes?.join(" ") || "–"}</dd>
              </dl>
            </section>
          )}
        </>
      )}
      <Dialog open={flow !== null} title="Log in" onClose={() => setFlow(null)} size="sm">
        {flow && (
          <div className="stack center-text">
            <p>Enter this code on the sign-in page of your identity provider:</p>
            <div className="device-code mono" aria-label="Device code">{flow.user_code}</div>
            <div className="row gap center">
              <CopyButton text={flow.user_code} label="Copy code" />
              <a className="button button-primary" href={flow.verification_uri_complete ?? flow.verification_uri} target="_blank" rel="noopener noreferrer">
                Open sign-in page
              </a>
            </div>
            <p className="muted small">
              <span className="spinner" aria-hidden="true" /> Waiting for you to finish signing in… The code expires in {Math.round(flow.expires_in / 60)} minutes.
            </p>
          </div>
        )}
      </Dialog>
    </div>
  );
}
