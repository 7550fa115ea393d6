"""The manager's /metrics text (metrics/prometheus.py): the latency statistics each proxy pushes
become gauges labelled with the proxy."""

from __future__ import annotations

from mcp_acp.config.models import ManagerConfig
from mcp_acp.manager.app import prometheus_text
from mcp_acp.manager.registry import ProxyConnection
from mcp_acp.manager.state import ManagerState
from mcp_acp.metrics.stats import ProxyStats

# --------------------------------------------------------------------------- manager /metrics


def test_manager_metrics_carry_pushed_latency(tmp_path):
    state = ManagerState(config=ManagerConfig(log_dir=str(tmp_path)))
    stats = ProxyStats()
    stats.record_decision("allow", "tools/call", eval_ms=0.25)
    stats.record_answer("1", "tools/call", True, 1.5)
    state.registry.add(
        ProxyConnection("files", "px_00000000:files", "i1", "/tmp/files.sock", {}, stats=stats.snapshot())
    )
    state.registry.add(ProxyConnection("quiet", "px_00000000:quiet", "i2", "/tmp/quiet.sock", {}))
    text = prometheus_text(state).decode()
    assert 'mcp_acp_latency_ms{kind="proxy_latency",proxy="files",quantile="0.5"} 1.5' in text
    assert 'mcp_acp_latency_ms{kind="proxy_latency",proxy="files",quantile="0.95"} 1.5' in text
    assert 'mcp_acp_latency_ms{kind="policy_eval",proxy="files",quantile="0.5"} 0.25' in text
    assert 'kind="hitl_wait"' not in text  # no samples: no gauge, rather than a made-up 0
    assert 'proxy="quiet",quantile' not in text  # nothing pushed yet
