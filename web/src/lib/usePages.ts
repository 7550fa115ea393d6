import { useEffect, useState } from "react";
import { toastError } from "./notify";
import { useBusy } from "./useBusy";

interface Page<T> {
  entries: T[];
  has_more: boolean;
}

export interface Pages<T> {
  entries: T[];
  hasMore: boolean;
  loadingMore: boolean;
  loadMore: () => void;
}

/** A list paged by time: the first page, then older pages fetched `before` the last entry.
 * A new first page drops the pages loaded after the old one. */
export function usePages<T extends { time?: string }>(first: Page<T> | undefined, fetchBefore: (before: string) => Promise<Page<T>>, failure: string): Pages<T> {
  const [more, setMore] = useState<Page<T> | null>(null);
  const { busy, run } = useBusy();
  useEffect(() => setMore(null), [first]);

  const entries = [...(first?.entries ?? []), ...(more?.entries ?? [])];
  const loadMore = () => {
    const before = entries[entries.length - 1]?.time;
    if (!before) return;
    void run(async () => {
      const page = await fetchBefore(before);
      setMore((prev) => ({ ...page, entries: [...(prev?.entries ?? []), ...page.entries] }));
    }, (error) => toastError(error, failure));
  };
  return { entries, hasMore: more ? more.has_more : first?.has_more ?? false, loadingMore: busy, loadMore };
}
