import type { ProxyStats } from "../api/types";

/** "~1.2ms", "~14ms", "~1.3s" or "–" when there is no sample. */
export function formatLatency(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  if (ms < 10) return `~${ms.toFixed(1)}ms`;
  if (ms < 1000) return `~${Math.round(ms)}ms`;
  return `~${(ms / 1000).toFixed(1)}s`;
}

/** The median proxy latency of a stats object, wherever the sender put it. */
export function medianLatency(stats: ProxyStats | null | undefined): number | null {
  if (!stats) return null;
  return stats.latency?.proxy_latency_ms ?? stats.proxy_latency_ms ?? null;
}

export function p95Latency(stats: ProxyStats | null | undefined): number | null {
  return stats?.latency?.proxy_latency_p95_ms ?? null;
}

export function formatCount(value: number | null | undefined): string {
  if (value === null || value === undefined) return "–";
  return new Intl.NumberFormat("en").format(value);
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "–";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

export function formatClock(iso: string | null | undefined): string {
  if (!iso) return "–";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function relativeTime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "–";
  const when = Date.parse(iso);
  if (Number.isNaN(when)) return iso;
  const seconds = Math.round((now - when) / 1000);
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}

export function conditionText(value: unknown): string {
  if (Array.isArray(value)) return value.join(", ");
  if (value === null || value === undefined) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** "1 entry", "2 entries": the count with the noun in the right number. */
export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${formatCount(count)} ${count === 1 ? singular : pluralForm}`;
}
