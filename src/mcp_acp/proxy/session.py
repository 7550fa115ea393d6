"""The proxy process, assembled: the one place that wires the gate the relay consults, the
enforcer, the operations recorder, approvals (cache, pending requests, who is asked), the state
the control API serves, and the event bus all of them report to.

`cli/start.py` opens the trail and verifies the user (proxy/startup.py), builds a ProxySession
from its SessionInputs and serves it (proxy/serving.py). Tests build proxies with this builder too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mcp_acp.admin.tool_pins import PIN_FILE, FilePinStore
from mcp_acp.audit.shutdown import ShutdownCoordinator
from mcp_acp.audit.writer import AuditLog
from mcp_acp.config.models import ProxyConfig
from mcp_acp.identity.local import Identity
from mcp_acp.identity.provider import LocalIdentities, OidcIdentities
from mcp_acp.policy.model import Policy
from mcp_acp.policy.protected import ProtectedPaths
from mcp_acp.policy.roots import server_roots
from mcp_acp.proxy.approvals import ApprovalCache, Approver
from mcp_acp.proxy.control import ControlState
from mcp_acp.proxy.enforcement import Enforcer
from mcp_acp.proxy.events import ProxyEvents
from mcp_acp.proxy.gate import Gate
from mcp_acp.proxy.hitl import RoutingApprover
from mcp_acp.proxy.inband_approval import InbandApprovals
from mcp_acp.proxy.listing import Listing
from mcp_acp.proxy.operations import OperationsRecorder
from mcp_acp.proxy.output_inspection import OutputInspector
from mcp_acp.proxy.pending import PendingApprovals
from mcp_acp.proxy.pins import ASK, ToolPins
from mcp_acp.proxy.policy_reload import PolicyReloader
from mcp_acp.proxy.tasks import TaskBindings


@dataclass(frozen=True, slots=True)
class SessionInputs:
    """What a proxy session is built from: its config and policy, its open audit trail, and the
    user it is bound to."""

    name: str
    config: ProxyConfig
    policy: Policy
    policy_version: str
    config_version: str
    audit: AuditLog
    shutdown: ShutdownCoordinator
    identities: LocalIdentities | OidcIdentities  # who is asking, verified per request
    identity: Identity  # the user the session is bound to
    session_id: str
    policy_path: Path  # watched and reloaded
    protected: ProtectedPaths  # the product's own files: no policy may grant them
    approver: Approver | None = None  # None: the web UI, a native dialog, or nobody (proxy/hitl.py)
    slot: int = 0  # which of the proxy's running processes this is (one per MCP client)
    # Where this session's approvals are decided when not in the manager's UI (the gateway's
    # approvals page): requests are held for it until decided or timed out.
    approval_ui: str | None = None


class ProxySession:
    def __init__(self, inputs: SessionInputs) -> None:
        self.inputs = inputs
        name, config, audit = inputs.name, inputs.config, inputs.audit
        ttl = config.hitl.approval_ttl_seconds
        self.events = ProxyEvents()  # the one bus: the control API's stream and the manager follow it
        self.approvals = ApprovalCache(ttl, announce=self.events.emit)
        self.reloader = PolicyReloader(
            inputs.policy_path,
            inputs.policy,
            inputs.protected,
            audit,
            self.approvals,
            inputs.policy_version,
            self.events,
        )
        self.pending = PendingApprovals(self.events, name, config.proxy_id, ttl)
        self.tasks = TaskBindings(inputs.session_id, inputs.identity.subject_id)
        self.reloader.on_reloaded.append(lambda: self.pending.withdraw_all("policy_changed"))
        self.enforcer = Enforcer(
            self.reloader,
            audit,
            inputs.shutdown,
            identities=inputs.identities,
            identity=inputs.identity,
            backend_id=config.backend.server_name,
            session_id=inputs.session_id,
            proxy_name=name,
            limits=config.limits,
            hitl=config.hitl,
            approver=inputs.approver or RoutingApprover(self.pending, ui_present=self._someone_to_ask),
            approvals=self.approvals,
            events=self.events,
            roots=server_roots(config),
            pending=self.pending,
            tasks=self.tasks,
            inband=self._inband(inputs),
        )
        self.listing = Listing(self.reloader, inputs.identity, config.backend.server_name, config.discovery == "filter")
        self.pins = ToolPins(
            FilePinStore(inputs.policy_path.parent / PIN_FILE),  # the proxy's config folder
            audit,
            inputs.session_id,
            mode=lambda: self.reloader.engine.policy.tool_changes or ASK,
        )
        self.enforcer.pins = self.listing.pins = self.pins
        enforcer = self.enforcer
        self.gate = Gate(
            enforcer.check,
            enforcer.note_notification,
            self.listing.hooks(),
            refused=enforcer.refused,
            client_answered=enforcer.client_answered,
            tasks=self.tasks,
            inspector=OutputInspector(lambda: self.reloader.engine.policy.output),
        )
        # One set of counters (the enforcer's) and one event bus, shared with the control API and,
        # through `control.events`, the manager.
        self.control = ControlState(
            self.reloader,
            inputs.identities,
            self.approvals,
            inputs.session_id,
            inputs.identity,
            stats=enforcer.stats,
            events=self.events,
            info=ControlState.info_from(name, config),
            log_dir=audit.log_dir,
            debug_logs=config.log_level == "DEBUG",
            client_name=lambda: (enforcer.client_info or {}).get("name"),
            pending=self.pending,
            roots=enforcer.roots,
        )
        self.events.sinks.append(self._to_own_stream)

    def _someone_to_ask(self) -> bool:
        return self.inputs.approval_ui is not None or self.control.ui_present()

    def _inband(self, inputs: SessionInputs) -> InbandApprovals | None:
        if inputs.approver is not None:
            return None
        if (page := inputs.approval_ui) is not None:
            return InbandApprovals(self.pending, inputs.config.proxy_id, ui_base=lambda: page)
        return InbandApprovals(self.pending, inputs.config.proxy_id)

    def _to_own_stream(self, event_type: str, data: dict) -> None:
        """Every event also goes to the proxy's own stream (/api/approvals/pending)."""
        ids = {"proxy_name": self.inputs.name, "proxy_id": self.inputs.config.proxy_id}
        self.control.hub.publish({**data, "type": event_type, **ids})

    def recorder(self, transport: str) -> OperationsRecorder:
        """The operations log of this session, once the backend's transport is known."""
        inputs = self.inputs
        return OperationsRecorder(
            inputs.audit,
            inputs.shutdown,
            inputs.session_id,
            inputs.identity,
            inputs.config.backend.server_name,
            transport,
            inputs.config_version,
            stats=self.control.stats,
        )

    def summary(self) -> list[str]:
        """What the start-up banner says about the policy and the roots."""
        reloader, filtering = self.reloader, self.listing.filtering
        lines = [
            f"  policy: {reloader.rules_count} rules ({self.inputs.policy_version}) from {reloader.path}"
            f"{'; lists filtered by policy' if filtering else ''}"
        ]
        if self.enforcer.roots:
            lines.append(f"  roots: {', '.join(self.enforcer.roots)} (relative paths are judged against these)")
        return lines
