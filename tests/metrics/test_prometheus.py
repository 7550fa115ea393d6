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
    assert 'mcp_acp_latency_ms{kind="proxy_latency",proxy="files",quantile="0.5",session="0"} 1.5' in text
    assert 'mcp_acp_latency_ms{kind="proxy_latency",proxy="files",quantile="0.95",session="0"} 1.5' in text
    assert 'mcp_acp_latency_ms{kind="policy_eval",proxy="files",quantile="0.5",session="0"} 0.25' in text
    assert 'kind="hitl_wait"' not in text  # no samples: no gauge, rather than a made-up 0
    assert 'proxy="quiet",quantile' not in text  # nothing pushed yet


def test_each_session_of_a_proxy_is_its_own_series(tmp_path):
    """Two clients' processes of one proxy: two series, told apart by `session`, never one
    overwriting the other."""
    state = ManagerState(config=ManagerConfig(log_dir=str(tmp_path)))
    for slot, latency in ((0, 1.5), (1, 4.0)):
        stats = ProxyStats()
        stats.record_answer("1", "tools/call", True, latency)
        state.registry.add(
            ProxyConnection(
                "files", "px_00000000:files", f"i{slot}", f"/tmp/{slot}.sock", {}, stats=stats.snapshot(), slot=slot
            )
        )
    text = prometheus_text(state).decode()
    assert 'kind="proxy_latency",proxy="files",quantile="0.5",session="0"} 1.5' in text
    assert 'kind="proxy_latency",proxy="files",quantile="0.5",session="1"} 4.0' in text
    assert len(state.registry.sessions("files")) == 2 and state.registry.get("files").slot == 0
    assert "mcp_acp_connected_proxies 1.0" in text  # one proxy, however many sessions
