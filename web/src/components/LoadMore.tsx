import type { Pages } from "../lib/usePages";
import { BusyButton } from "./BusyButton";

/** The "Load more" button under a paged list, while the server has more. */
export function LoadMore({ pages }: { pages: Pick<Pages<unknown>, "hasMore" | "loadingMore" | "loadMore"> }) {
  if (!pages.hasMore) return null;
  return (
    <div className="center">
      <BusyButton busy={pages.loadingMore} onClick={pages.loadMore}>
        Load more
      </BusyButton>
    </div>
  );
}
