import { errorMessage } from "../api/client";

export function ErrorState({ error, onRetry, title = "Could not load" }: { error: unknown; onRetry?: () => void; title?: string }) {
  return (
    <div className="empty compact error-state" role="alert">
      <p className="empty-title">{title}</p>
      <p className="muted">{errorMessage(error)}</p>
      {onRetry && (
        <button type="button" className="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}
