import { useEffect, useState } from "react";
import { useNavigate, useParams, useSearchParams } from "react-router-dom";
import { ApiError } from "../api/client";
import { endpoints } from "../api/endpoints";
import type { ProxyDetail } from "../api/types";
import { ApprovalLinkPanel } from "../components/ApprovalLink";
import { ConfirmDialog } from "../components/Dialog";
import { ClientDialog } from "../components/ClientDialog";
import { ErrorState } from "../components/ErrorState";
import { BackLink, ProxyNotFound } from "../components/NotFound";
import { Tabs } from "../components/Tabs";
import { toastError, toastSuccess, toastWarning } from "../lib/notify";
import { useAsync } from "../lib/useAsync";
import { APPROVAL_PARAM, approvalParam } from "../state/approvalLink";
import { effectiveStatus } from "../state/filters";
import { useLive } from "../state/LiveProvider";
import { awaitingClient, IDENTIFY_POLL_MS } from "../state/sessions";
import { AuditTab } from "./tabs/AuditTab";
import { ConfigTab } from "./tabs/ConfigTab";
import { OverviewTab } from "./tabs/OverviewTab";
import { PolicyTab } from "./tabs/PolicyTab";

const TABS = [
  { id: "overview", label: "Overview" },
  { id: "audit", label: "Audit" },
  { id: "policy", label: "Policy" },
  { id: "config", label: "Config" },
];

export function ProxyDetailPage() {
  const { id = "" } = useParams();
  const { state } = useLive();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const tab = TABS.some((t) => t.id === params.get("tab")) ? (params.get("tab") as string) : "overview";
  // Each session counts the approvals it waits on: ask again when this proxy's pending list changes.
  const waiting = Object.values(state.pending).filter((entry) => entry.proxy_id === id).length;
  const proxy = useAsync(() => endpoints.getProxy(id), [id, state.versions.proxies, waiting]);
  const [auditAlert, setAuditAlert] = useState(false);

  const detail = proxy.data;
  const live = detail ? state.proxies[detail.proxy_name] : undefined;

  // A new session's client names itself shortly after the session appears: ask again until it has.
  const { loading, reload } = proxy;
  useEffect(() => {
    if (!detail || loading || !awaitingClient(detail)) return;
    const timer = window.setTimeout(reload, IDENTIFY_POLL_MS);
    return () => window.clearTimeout(timer);
  }, [detail, loading, reload]);

  // Deleted elsewhere (CLI or another window): say so and leave.
  useEffect(() => {
    if (detail && live?.status === "deleted") {
      toastWarning(`Proxy '${detail.proxy_name}' was deleted`);
      navigate("/", { replace: true });
    }
  }, [detail, live?.status, navigate]);

  if (proxy.error instanceof ApiError && proxy.error.status === 404) return <ProxyNotFound id={id} />;
  if (proxy.error && !detail) {
    return (
      <div className="page">
        <BackLink />
        <ErrorState error={proxy.error} onRetry={proxy.reload} />
      </div>
    );
  }
  if (!detail) {
    return (
      <div className="page" aria-busy="true">
        <BackLink />
        <div className="skeleton skeleton-line w40 tall" />
        <div className="skeleton skeleton-block" />
      </div>
    );
  }

  // The live status, unless the session that left was one of several (docs/ui.md#sessions).
  const status = effectiveStatus(detail, state.proxies);
  // Change one parameter, keep the others (the tab and a client's ?approval= link live together).
  const setParam = (name: string, value: string | null) =>
    setParams(
      (current) => {
        const next = new URLSearchParams(current);
        if (value === null) next.delete(name);
        else next.set(name, value);
        return next;
      },
      { replace: true },
    );
  return (
    <div className="page">
      <BackLink />
      <DetailHeader proxy={detail} status={status} />
      {params.has(APPROVAL_PARAM) && (
        <ApprovalLinkPanel
          approvalId={approvalParam(params)}
          proxy={{ name: detail.proxy_name, running: status === "running" }}
          onDismiss={() => setParam(APPROVAL_PARAM, null)}
          onShowAudit={() => setParam("tab", "audit")}
        />
      )}
      <Tabs
        idPrefix="proxy"
        tabs={TABS.map((t) => ({ ...t, alert: t.id === "audit" && auditAlert }))}
        active={tab}
        onChange={(next) => setParam("tab", next === "overview" ? null : next)}
      />
      <div role="tabpanel" id={`proxy-panel-${tab}`} aria-labelledby={`proxy-tab-${tab}`} className="tab-panel" tabIndex={-1}>
        {tab === "overview" && <OverviewTab proxy={detail} status={status} />}
        {tab === "audit" && <AuditTab proxy={detail} status={status} onIntegrity={setAuditAlert} />}
        {tab === "policy" && <PolicyTab proxy={detail} status={status} />}
        {tab === "config" && <ConfigTab proxy={detail} status={status} />}
      </div>
    </div>
  );
}

function DetailHeader({ proxy, status }: { proxy: ProxyDetail; status: "running" | "inactive" }) {
  const navigate = useNavigate();
  const [confirm, setConfirm] = useState(false);
  const [purge, setPurge] = useState(false);
  const [busy, setBusy] = useState(false);
  const [connecting, setConnecting] = useState(false);
  const running = status === "running";

  const remove = async () => {
    setBusy(true);
    try {
      const result = await endpoints.deleteProxy(proxy.proxy_id, purge);
      toastSuccess(
        purge ? `Proxy '${proxy.proxy_name}' deleted permanently` : `Proxy '${proxy.proxy_name}' archived${result.archive_name ? ` as ${result.archive_name}` : ""}`,
      );
      setConfirm(false);
      navigate("/", { replace: true });
    } catch (error) {
      toastError(error, "Delete failed");
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="detail-header">
      <div className="detail-title">
        <h1>{proxy.proxy_name}</h1>
        <div className="detail-sub">
          <span className={`status-pill status-pill-${status}`}>
            <span className={`status-dot status-${status}`} aria-hidden="true" />
            <span data-testid="proxy-status">{status}</span>
          </span>
          <span className="muted">{proxy.server_name}</span>
          <span className="muted mono small">{proxy.proxy_id}</span>
        </div>
      </div>
      <div className="row gap">
        <button type="button" className="button" onClick={() => setConnecting(true)}>
          Connect a client
        </button>
        {connecting && <ClientDialog proxy={proxy.proxy_name} onClose={() => setConnecting(false)} />}
        <span className="tooltip-wrap" title={running ? "Stop the proxy (close its MCP client) before deleting it" : undefined}>
          <button
            type="button"
            className="button button-danger-outline"
            disabled={running}
            aria-describedby={running ? "delete-hint" : undefined}
            onClick={() => setConfirm(true)}
          >
            Delete
          </button>
          {running && (
            <span role="tooltip" id="delete-hint" className="tooltip">
              Stop the proxy (close its MCP client) before deleting it
            </span>
          )}
        </span>
      </div>
      <ConfirmDialog
        open={confirm}
        title={`Delete proxy '${proxy.proxy_name}'`}
        confirmLabel={purge ? "Delete permanently" : "Archive proxy"}
        danger
        busy={busy}
        onConfirm={remove}
        onClose={() => setConfirm(false)}
      >
        <fieldset className="radio-group">
          <legend className="label">What happens to its files</legend>
          <label className="radio">
            <input type="radio" name="purge" checked={!purge} onChange={() => setPurge(false)} />
            <span>
              <strong>Archive</strong>
              <span className="muted small block">Config, policy and audit logs move to the archive folder; restore them by hand.</span>
            </span>
          </label>
          <label className="radio">
            <input type="radio" name="purge" checked={purge} onChange={() => setPurge(true)} />
            <span>
              <strong>Delete permanently</strong>
              <span className="muted small block">Config, policy and logs are removed. This cannot be undone.</span>
            </span>
          </label>
        </fieldset>
        <p className="callout callout-info small">
          Remember to remove <code>{proxy.proxy_name}</code> from your MCP client's configuration too.
        </p>
      </ConfirmDialog>
    </div>
  );
}
