import { useMemo, useState } from "react";
import { errorMessage } from "../../api/client";
import { endpoints } from "../../api/endpoints";
import type { ProxyDetail } from "../../api/types";
import { LoadMore } from "../../components/LoadMore";
import { useAsync } from "../../lib/useAsync";
import { usePages } from "../../lib/usePages";
import { useLive } from "../../state/LiveProvider";
import { LogControls, NO_FILTERS, type LogFilters } from "./LogControls";
import { LogRow } from "./LogRow";

const PAGE = 50;

/** A proxy's logs, newest first, filtered and paged. */
export function LogViewer({ proxy, running }: { proxy: ProxyDetail; running: boolean }) {
  const { state } = useLive();
  const [type, setType] = useState("decisions");
  const [range, setRange] = useState("1h");
  const [filters, setFilters] = useState<LogFilters>(NO_FILTERS);
  const [open, setOpen] = useState<Set<string>>(new Set());
  const [explain, setExplain] = useState<string | null>(null);
  const metadata = useAsync(() => endpoints.logsMetadata(proxy.proxy_id), [proxy.proxy_id]);
  const version = state.versions.logs[proxy.proxy_name] ?? 0;

  const query = useMemo(() => {
    const q: Record<string, string | number | undefined> = { time_range: range, limit: PAGE };
    for (const [key, value] of Object.entries(filters)) if (value.trim()) q[key] = value.trim();
    return q;
  }, [range, filters]);
  const logs = useAsync(() => endpoints.logs(proxy.proxy_id, type, query), [proxy.proxy_id, type, query, version]);
  const pages = usePages(logs.data, (before) => endpoints.logs(proxy.proxy_id, type, { ...query, before }), "Could not load more entries");
  const entries = pages.entries;

  const chooseType = (next: string) => {
    setType(next);
    setOpen(new Set());
    setExplain(null);
  };
  const toggle = (key: string) =>
    setOpen((current) => {
      const next = new Set(current);
      if (next.has(key)) next.delete(key);
      else next.add(key);
      return next;
    });

  return (
    <section className="panel" aria-labelledby="logs-title">
      <div className="panel-header">
        <h2 id="logs-title">Logs</h2>
        {logs.loading && <span className="spinner" aria-label="Loading" />}
        <div className="spacer" />
        <span className="muted small">{logs.data ? `${entries.length} shown${logs.data.total_scanned !== undefined ? ` · ${logs.data.total_scanned} scanned` : ""}` : ""}</span>
      </div>
      <LogControls metadata={metadata.data} type={type} onType={chooseType} range={range} onRange={setRange} filters={filters} onFilters={setFilters} />

      {logs.error && !logs.data ? (
        <p className="callout callout-error" role="alert">{errorMessage(logs.error)}</p>
      ) : entries.length === 0 ? (
        <p className="muted panel-empty">{logs.data ? "No entries in this range. Try a longer time range." : "Loading…"}</p>
      ) : (
        <ul className="log-list">
          {entries.map((entry, index) => {
            const key = `${entry.sequence ?? ""}-${entry.time ?? ""}-${index}`;
            return (
              <LogRow
                key={key}
                proxy={proxy}
                running={running}
                type={type}
                entry={entry}
                expanded={open.has(key)}
                onToggle={() => toggle(key)}
                explaining={explain === key}
                onExplain={(show) => setExplain(show ? key : null)}
              />
            );
          })}
        </ul>
      )}
      <LoadMore pages={pages} />
    </section>
  );
}
