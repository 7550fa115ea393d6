import type { ReactNode } from "react";
import { Link } from "react-router-dom";

/** A page for a link that leads nowhere: say what was not found and offer the way back, rather
 * than silently showing another page (which reads as if the link had worked). */
export function NotFound({ title, children }: { title: ReactNode; children?: ReactNode }) {
  return (
    <div className="page">
      <BackLink />
      <div className="empty" role="alert" data-testid="not-found">
        <p className="empty-title">{title}</p>
        {children && <p className="muted">{children}</p>}
        <Link to="/" className="button">
          Show all proxies
        </Link>
      </div>
    </div>
  );
}

/** /proxy/<id> for an id no configured proxy has (deleted, renamed, or mistyped). */
export function ProxyNotFound({ id }: { id: string }) {
  return (
    <NotFound
      title={
        <>
          No proxy named <code>{id}</code>
        </>
      }
    >
      No configured proxy has this name or id: it may have been deleted, or the link is mistyped.
    </NotFound>
  );
}

export function BackLink() {
  return (
    <Link to="/" className="back-link">
      <svg viewBox="0 0 20 20" width="14" height="14" aria-hidden="true">
        <path d="M12 4.5L6.5 10l5.5 5.5" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round" />
      </svg>
      All proxies
    </Link>
  );
}
