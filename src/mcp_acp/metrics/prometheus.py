"""`/metrics` on the manager: Prometheus text, read from the proxies' latest stats at scrape time."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from mcp_acp.manager.state import ManagerState
from mcp_acp.metrics.stats import LATENCY_KINDS

QUANTILES = (("0.5", "_ms"), ("0.95", "_p95_ms"))  # label, and the key suffix in the pushed latency block


class ManagerCollector:
    def __init__(self, state: ManagerState) -> None:
        self.state = state

    def collect(self):
        requests = CounterMetricFamily(
            "mcp_acp_requests",
            "Requests seen by each connected proxy, by decision and method (since the proxy started)",
            labels=["proxy", "decision", "method"],
        )
        pending = GaugeMetricFamily(
            "mcp_acp_pending_approvals", "Requests waiting for a human decision", labels=["proxy"]
        )
        latency = GaugeMetricFamily(
            "mcp_acp_latency_ms",
            "Latency over each proxy's last 1000 samples, by kind (median and p95)",
            labels=["proxy", "kind", "quantile"],
        )
        for connection in self.state.registry.all():
            stats = connection.stats or {}
            by_method = stats.get("by_method") or {}
            for method, decisions in sorted(by_method.items()):
                for decision, count in sorted(decisions.items()):
                    requests.add_metric([connection.proxy_name, decision, method], count)
            pending.add_metric([connection.proxy_name], connection.pending)
            measured = m if isinstance(m := stats.get("latency"), dict) else {}
            for kind in LATENCY_KINDS:
                for quantile, suffix in QUANTILES:
                    value = measured.get(kind + suffix)
                    if isinstance(value, (int, float)):  # null (no samples yet) is no sample
                        latency.add_metric([connection.proxy_name, kind, quantile], value)
        yield requests
        yield pending
        yield latency
        yield GaugeMetricFamily(
            "mcp_acp_connected_proxies", "Proxies registered with the manager", value=len(self.state.registry)
        )
        yield GaugeMetricFamily(
            "mcp_acp_sse_subscribers", "Browsers following the event stream", value=len(self.state.hub.subscribers)
        )
        yield CounterMetricFamily(
            "mcp_acp_events_published", "Events sent to the event stream", value=self.state.hub.published
        )


def metrics_text(state: ManagerState) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ManagerCollector(state))
    return generate_latest(registry)
