import { useLive, useNow } from "../state/LiveProvider";
import { pendingList } from "../state/pending";
import { ApprovalItem } from "./ApprovalItem";
import { Dialog } from "./Dialog";

export function PendingDrawer({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { state } = useLive();
  const now = useNow(500);
  const entries = pendingList(state.pending, now);
  return (
    <Dialog open={open} onClose={onClose} title="Pending approvals" variant="drawer">
      {entries.length === 0 ? (
        <div className="empty compact">
          <div className="empty-icon" aria-hidden="true">✓</div>
          <p className="empty-title">Nothing is waiting</p>
          <p className="muted small">Requests that a policy sends to a human appear here, from every proxy.</p>
        </div>
      ) : (
        <div className="stack">
          {entries.map((entry) => (
            <ApprovalItem key={entry.id} entry={entry} now={now} />
          ))}
        </div>
      )}
    </Dialog>
  );
}
