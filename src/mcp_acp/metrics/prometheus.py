"""`/metrics` on the manager: Prometheus text, from the proxies' latest stats at scrape time.

The manager passes in what it knows (each connected proxy's figures, its event stream's
counters); this module knows nothing of the manager."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from mcp_acp.metrics.stats import LATENCY_KINDS

QUANTILES = (("0.5", "_ms"), ("0.95", "_p95_ms"))  # label, and the key suffix in the pushed latency block


@dataclass(frozen=True, slots=True)
class ProxyFigures:
    """One connected proxy, as the manager last heard from it."""

    name: str
    stats: dict | None  # the latest `stats_updated` it pushed
    pending: int  # approvals waiting
    session: int = 0  # which process of the proxy (one per MCP client): its slot


class ManagerCollector:
    def __init__(self, proxies: list[ProxyFigures], subscribers: int, published: int) -> None:
        self.proxies = proxies
        self.subscribers = subscribers
        self.published = published

    def collect(self):
        requests = CounterMetricFamily(
            "mcp_acp_requests",
            "Requests seen by each connected proxy, by decision and method (since the proxy started)",
            labels=["proxy", "session", "decision", "method"],
        )
        pending = GaugeMetricFamily(
            "mcp_acp_pending_approvals", "Requests waiting for a human decision", labels=["proxy", "session"]
        )
        latency = GaugeMetricFamily(
            "mcp_acp_latency_ms",
            "Latency over each proxy's last 1000 samples, by kind (median and p95)",
            labels=["proxy", "session", "kind", "quantile"],
        )
        for proxy in self.proxies:
            stats = proxy.stats or {}
            session = str(proxy.session)
            by_method = stats.get("by_method") or {}
            for method, decisions in sorted(by_method.items()):
                for decision, count in sorted(decisions.items()):
                    requests.add_metric([proxy.name, session, decision, method], count)
            pending.add_metric([proxy.name, session], proxy.pending)
            measured = m if isinstance(m := stats.get("latency"), dict) else {}
            for kind in LATENCY_KINDS:
                for quantile, suffix in QUANTILES:
                    value = measured.get(kind + suffix)
                    if isinstance(value, (int, float)):  # null (no samples yet) is no sample
                        latency.add_metric([proxy.name, session, kind, quantile], value)
        yield requests
        yield pending
        yield latency
        yield GaugeMetricFamily(
            "mcp_acp_connected_proxies",
            "Proxies registered with the manager (each counted once, whatever its number of sessions)",
            value=len({proxy.name for proxy in self.proxies}),
        )
        yield GaugeMetricFamily(
            "mcp_acp_sse_subscribers", "Browsers following the event stream", value=self.subscribers
        )
        yield CounterMetricFamily("mcp_acp_events_published", "Events sent to the event stream", value=self.published)


def metrics_text(proxies: list[ProxyFigures], subscribers: int, published: int) -> bytes:
    """The exposition text: `subscribers` browsers follow the event stream, `published` events sent."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ManagerCollector(proxies, subscribers, published))
    return generate_latest(registry)
