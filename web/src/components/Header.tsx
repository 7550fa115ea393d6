import { useEffect, useRef, useState } from "react";
import { Link, NavLink, useNavigate } from "react-router-dom";
import { endpoints } from "../api/endpoints";
import type { AuthStatus } from "../api/types";
import { plural } from "../lib/format";
import { toastError, toastInfo } from "../lib/notify";
import { useAsync } from "../lib/useAsync";
import { useLive } from "../state/LiveProvider";
import { PendingDrawer } from "./PendingDrawer";
import { ShieldIcon } from "./SignInPanel";

export function Header() {
  const { state, unreadIncidents } = useLive();
  const [drawer, setDrawer] = useState(false);
  const pending = Object.keys(state.pending).length;
  const auth = useAsync(() => endpoints.authStatus(), [state.versions.auth]);

  return (
    <header className="app-header">
      <div className="header-inner">
        <Link to="/" className="brand" aria-label="mcp-acp home">
          <span className="brand-mark" aria-hidden="true">
            <ShieldIcon size={18} />
          </span>
          <span className="brand-name">mcp-acp</span>
        </Link>
        <nav className="nav" aria-label="Main">
          <NavLink to="/" end className="nav-link">
            Proxies
          </NavLink>
          <NavLink to="/incidents" className="nav-link" aria-label="Incidents" aria-describedby={unreadIncidents ? "incidents-unread" : undefined}>
            Incidents
            {unreadIncidents > 0 && (
              <span className="badge badge-danger" id="incidents-unread" aria-label={plural(unreadIncidents, "new incident")}>
                {unreadIncidents > 99 ? "99+" : unreadIncidents}
              </span>
            )}
          </NavLink>
          <NavLink to="/gateway" className="nav-link">
            Gateway
          </NavLink>
          <NavLink to="/auth" className="nav-link">
            Auth
          </NavLink>
        </nav>
        <div className="header-actions">
          <button
            type="button"
            className={`button pending-button${pending ? " has-pending" : ""}`}
            aria-label={`Pending approvals (${pending})`}
            aria-haspopup="dialog"
            onClick={() => setDrawer(true)}
          >
            <svg viewBox="0 0 20 20" width="16" height="16" aria-hidden="true">
              <path d="M10 2.5a5 5 0 00-5 5v3l-1.5 3h13L15 10.5v-3a5 5 0 00-5-5zM8 15.5a2 2 0 004 0" fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinejoin="round" />
            </svg>
            <span>Pending</span>
            <span className={`badge ${pending ? "badge-warning" : "badge-muted"}`} aria-hidden="true">
              {pending}
            </span>
          </button>
          <AuthMenu status={auth.data} reload={auth.reload} />
        </div>
      </div>
      <PendingDrawer open={drawer} onClose={() => setDrawer(false)} />
    </header>
  );
}

function AuthMenu({ status, reload }: { status: AuthStatus | undefined; reload: () => void }) {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  const navigate = useNavigate();

  useEffect(() => {
    if (!open) return;
    const onDown = (event: MouseEvent) => {
      if (ref.current && !ref.current.contains(event.target as Node)) setOpen(false);
    };
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") {
        setOpen(false);
        ref.current?.querySelector<HTMLButtonElement>("button")?.focus();
      }
    };
    document.addEventListener("mousedown", onDown);
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("mousedown", onDown);
      document.removeEventListener("keydown", onKey);
    };
  }, [open]);

  const who = status?.authenticated ? status.email ?? status.name ?? status.subject_id ?? "Signed in"
    : status?.configured ? "Not signed in" : "Local mode";
  const initial = (status?.authenticated ? (status.name ?? status.email ?? status.subject_id ?? "?") : "?").slice(0, 1).toUpperCase();

  return (
    <div className="menu-wrap" ref={ref}>
      <button
        type="button"
        className="button button-ghost account-button"
        aria-haspopup="true"
        aria-expanded={open}
        aria-label={`Account: ${who}`}
        onClick={() => setOpen((value) => !value)}
      >
        <span className={`avatar${status?.authenticated ? " avatar-on" : ""}`} aria-hidden="true">
          {initial}
        </span>
        <span className="account-name">{who}</span>
        <svg viewBox="0 0 20 20" width="14" height="14" aria-hidden="true">
          <path d="M5.5 8l4.5 4.5L14.5 8" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" />
        </svg>
      </button>
      {open && (
        <div className="menu" role="menu">
          <div className="menu-info">
            <div className="menu-info-name">{status?.name ?? who}</div>
            {status?.subject_id && <div className="muted small mono">{status.subject_id}</div>}
            {status && !status.configured && <div className="muted small">No identity provider configured</div>}
          </div>
          <button type="button" role="menuitem" className="menu-item" onClick={() => { setOpen(false); navigate("/auth"); }}>
            Sign-in details
          </button>
          {status?.authenticated && (
            <button
              type="button"
              role="menuitem"
              className="menu-item menu-item-danger"
              onClick={async () => {
                setOpen(false);
                try {
                  const result = await endpoints.logout();
                  toastInfo(result.message);
                  reload();
                } catch (error) {
                  toastError(error, "Logout failed");
                }
              }}
            >
              Log out
            </button>
          )}
        </div>
      )}
    </div>
  );
}
