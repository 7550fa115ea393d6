import { useLive } from "../state/LiveProvider";

/** Hidden while the event stream is connected (docs/ui.md). */
export function ConnectionBanner() {
  const { state, retry } = useLive();
  const { status } = state.connection;
  if (status === "open" || status === "connecting") return null;
  const disconnected = status === "disconnected";
  return (
    <div className={`banner ${disconnected ? "banner-error" : "banner-warning"}`} role="status">
      {disconnected ? (
        <>
          <svg viewBox="0 0 20 20" width="16" height="16" aria-hidden="true">
            <circle cx="10" cy="10" r="8" fill="none" stroke="currentColor" strokeWidth="1.8" />
            <path d="M10 5.5v5.5M10 13.5v.5" stroke="currentColor" strokeWidth="2" strokeLinecap="round" />
          </svg>
          <span>
            <strong>Disconnected</strong> from the mcp-acp manager. Live updates are paused.
          </span>
        </>
      ) : (
        <>
          <span className="spinner" aria-hidden="true" />
          <span>
            <strong>Reconnecting…</strong> Live updates will resume when the manager answers.
          </span>
        </>
      )}
      <button type="button" className="button button-small" onClick={retry}>
        Retry
      </button>
    </div>
  );
}
