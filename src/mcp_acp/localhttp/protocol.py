"""The proxy ↔ manager protocol (docs/manager.md#the-proxy-connection): compact JSON, one message per line, over
`manager.sock`. Each side ignores lines it cannot parse and message types it does not know.

Proxy to manager: `register` (first), then `event`s. Manager to proxy: `registered`, `ui_status`,
`token_update` or `token_cleared`, and a `heartbeat` every 30 s. Each message is built here."""

from __future__ import annotations

import re

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mcp_acp.config import paths
from mcp_acp.config.models import ProxyName
from mcp_acp.event_names import Event

MAX_LINE = 1024 * 1024  # an event larger than this is a bug or an attack: the connection is dropped
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def encode(message: dict) -> bytes:
    return orjson.dumps(message) + b"\n"


def decode(line: bytes) -> dict | None:
    """The message on `line`, or None when it is not a JSON object with a string `type`."""
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return message if isinstance(message, dict) and isinstance(message.get("type"), str) else None


def register(
    proxy_name: str, proxy_id: str, instance_id: str, config_summary: dict, socket_path: str, slot: int = 0
) -> dict:
    return {
        "type": "register",
        "proxy_name": proxy_name,
        "proxy_id": proxy_id,
        "instance_id": instance_id,
        "config_summary": config_summary,
        "socket_path": socket_path,
        "slot": slot,
    }


def registered(error: str | None = None) -> dict:
    """The answer to `register`: accepted, or refused with the reason."""
    return {"type": "registered", "ok": True} if error is None else {"type": "registered", "ok": False, "error": error}


def event(event_type: str, data: dict) -> dict:
    return {"type": "event", "event_type": event_type, "data": data}


def ui_status(subscriber_count: int) -> dict:
    """Whether a browser is watching, so the proxy knows whether a human can be asked."""
    return {"type": Event.UI_STATUS, "browser_connected": subscriber_count > 0, "subscriber_count": subscriber_count}


def token_update(tokens: dict) -> dict:
    """The signed-in user's tokens (identity/tokens.py StoredTokens, as a dict) for every proxy."""
    return {"type": Event.TOKEN_UPDATE, **tokens}


def token_cleared() -> dict:
    return {"type": Event.TOKEN_CLEARED}


def heartbeat() -> dict:
    return {"type": Event.HEARTBEAT}


class Register(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    proxy_name: ProxyName
    proxy_id: str = Field(pattern=r"^px_[0-9a-f]{8}:[a-z0-9-]+$")
    instance_id: str = Field(min_length=1, max_length=64)
    config_summary: dict = Field(default_factory=dict)
    socket_path: str = Field(min_length=1)
    slot: int = Field(default=0, ge=0, lt=paths.MAX_SESSIONS)  # one process per MCP client

    @field_validator("type")
    @classmethod
    def _is_register(cls, value: str) -> str:
        if value != "register":
            raise ValueError("the first message must be 'register'")
        return value


def parse_register(message: dict | None) -> tuple[Register | None, str | None]:
    """(registration, None) or (None, the reason it was refused)."""
    if message is None:
        return None, "invalid JSON: send one JSON object per line"
    try:
        return Register.model_validate(message), None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in exc.errors())
        return None, problems.replace("Value error, ", "")
