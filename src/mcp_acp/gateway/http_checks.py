"""HTTP hygiene of the gateway (docs/gateway.md#what-the-gateway-checks), as pure functions the
HTTP front calls before a message reaches the relay: the Host and Origin headers (DNS
rebinding, browsers), the MCP routing headers against the body (streamable-http.mdx "Server
Validation": a header that disagrees with the body is refused, because an intermediary may
have routed on it), and a per-principal rate limit.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from mcp_acp.policy import methods

HEADER_MISMATCH = -32020
UNSUPPORTED_PROTOCOL_VERSION = -32022
INVALID_PARAMS = -32602
REFUSED = -32000  # a refusal the protocol has no code for (Host, Origin, rate)

PROTOCOL_VERSION_HEADER = "mcp-protocol-version"
METHOD_HEADER = "mcp-method"
NAME_HEADER = "mcp-name"
PARAM_HEADER_PREFIX = "mcp-param-"
NAME_BEARING_METHODS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
LEGACY_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
KNOWN_VERSIONS = (*methods.MODERN_VERSIONS, *LEGACY_VERSIONS)  # newest first
SENTINEL_PREFIX, SENTINEL_SUFFIX = "=?base64?", "?="
# RFC 9110 field-value as MCP narrows it: visible ASCII, space and tab (no obs-text, no CR/LF/NUL).
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*")
_HOST_NAME = re.compile(r"[a-z0-9\-._~%!$&'()*+,;=]+")
SHOWN = 80


class HttpRefusal(Exception):
    """A request refused before it is relayed: the HTTP status, a message that says what to fix,
    and the JSON-RPC code of the error body (None: no protocol-defined code, -32000 is sent)."""

    def __init__(
        self,
        status: int,
        message: str,
        code: int | None = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.data = data
        self.headers = headers or {}

    def body(self, request_id: str | int | None = None) -> dict:
        error: dict[str, Any] = {"code": REFUSED if self.code is None else self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return {"jsonrpc": "2.0", "id": request_id, "error": error}


def shown(value: str) -> str:
    """A client-sent value as it may appear in a message or log: control and non-ASCII characters
    escaped, quoted, and cut short."""
    escaped = value.encode("unicode_escape").decode("ascii")
    return repr(escaped if len(escaped) <= SHOWN else escaped[: SHOWN - 3] + "...")


# --- Host and Origin ------------------------------------------------------------------------


def host_name(host_header: str) -> str | None:
    """The host of a Host header, lower-cased, without port or IPv6 brackets; None if malformed."""
    value = host_header.strip(" \t").lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[1:end], value[end + 1 :]
        if not name or not re.fullmatch(r"[0-9a-f:.]+", name):
            return None
    else:
        name, _, rest = value.partition(":")
        rest = ":" + rest if _ else ""
        # An unbracketed IPv6 literal (two colons) is not a valid Host (RFC 9110 §7.2, RFC 3986).
        if not name or not _HOST_NAME.fullmatch(name):
            return None
    if rest and not re.fullmatch(r":[0-9]{1,5}", rest):
        return None
    return name


def _normal_host(name: str) -> str:
    return name.strip().lower().removeprefix("[").removesuffix("]")


def check_host(host_header: str | None, allowed: set[str]) -> None:
    """DNS rebinding: a page on evil.example whose name resolves to 127.0.0.1 makes the browser
    send `Host: evil.example`; only the names the gateway is served under pass. 403, as the MCP
    TypeScript SDK answers, and a 4xx as the conformance suite's dns-rebinding-protection wants."""
    if not host_header:
        raise HttpRefusal(403, "the request has no Host header (required to guard against DNS rebinding)")
    name = host_name(host_header)
    if name is None:
        raise HttpRefusal(403, f"the Host header {shown(host_header)} is malformed")
    if name not in {_normal_host(entry) for entry in allowed}:
        raise HttpRefusal(
            403,
            f"the Host {shown(name)} is not a name this gateway is served under (DNS rebinding protection); "
            "if it is yours, add it to 'allowed_hosts' in gateway.json",
        )


DEFAULT_PORTS = {"http": 80, "https": 443}


def normal_origin(origin: str) -> str | None:
    """scheme://host[:port] with the host lower-cased and a default port dropped; None if
    `origin` is not a serialised http(s) origin (a path, user info, query or "null")."""
    try:
        parts = urlsplit(origin.strip(" \t"))
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None or parts.password is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in origin or "#" in origin:
        return None
    if not _HOST_NAME.fullmatch(parts.hostname) and not re.fullmatch(r"[0-9a-f:.]+", parts.hostname):
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    suffix = "" if port is None or port == DEFAULT_PORTS[scheme] else f":{port}"
    return f"{scheme}://{host}{suffix}"


def check_origin(origin: str | None, allowed: set[str]) -> None:
    """Browsers send Origin; a page from a site not on the allow-list is refused (403,
    streamable-http.mdx "Security"). Non-browser clients send none and pass: the token is their check."""
    if origin is None:
        return
    if origin.strip() == "null":
        raise HttpRefusal(403, "requests from an opaque origin ('null': a sandboxed page or a file) are refused")
    normal = normal_origin(origin)
    if normal is None:
        raise HttpRefusal(403, f"the Origin header {shown(origin)} is not a valid origin")
    if normal not in {normal_origin(entry) or entry.lower() for entry in allowed}:
        raise HttpRefusal(
            403,
            f"the Origin {shown(normal)} is not allowed to call this gateway; add it to 'allowed_origins' "
            "in gateway.json if this web page should have access",
        )


# --- the MCP routing headers against the body ------------------------------------------------


def header_mismatch(message: str) -> HttpRefusal:
    return HttpRefusal(400, f"Header mismatch: {message}", HEADER_MISMATCH)


def unsupported_version(requested: str, supported: tuple[str, ...] = KNOWN_VERSIONS) -> HttpRefusal:
    """The UnsupportedProtocolVersionError of schema/2026-07-28 (data.supported, data.requested).
    A modern request is told the modern versions only: the ones server/discover lists."""
    return HttpRefusal(
        400,
        f"Unsupported protocol version {shown(requested)}: this gateway speaks {', '.join(supported)}",
        UNSUPPORTED_PROTOCOL_VERSION,
        {"supported": list(supported), "requested": requested},
    )


def decode_header_value(name: str, raw: str, sentinel: bool = True) -> str:
    """A header value as the body would hold it: characters checked, optional whitespace around
    it dropped (HTTP does), and the `=?base64?...?=` sentinel decoded (strict base64 of UTF-8)."""
    if not _FIELD_VALUE.fullmatch(raw):
        raise header_mismatch(f"the {name} header contains characters a header value cannot have: {shown(raw)}")
    value = raw.strip(" \t")
    if not sentinel or not (value.startswith(SENTINEL_PREFIX) and value.endswith(SENTINEL_SUFFIX) and len(value) >= 11):
        return value
    encoded = value[len(SENTINEL_PREFIX) : -len(SENTINEL_SUFFIX)]
    try:
        decoded = base64.b64decode(encoded, validate=True)
        # Canonical only: one body value has one encoding, so no two headers mean the same thing.
        if base64.b64encode(decoded).decode("ascii") != encoded:
            raise ValueError("not canonical")
        return decoded.decode("utf-8")
    except (binascii.Error, ValueError):
        raise header_mismatch(f"the {name} header {shown(value)} is not valid base64 of UTF-8 text") from None


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    """The MCP headers by lower-cased name. One that comes twice (or in two spellings) is refused:
    a proxy and this gateway could each read a different one."""
    found: dict[str, str] = {}
    for key in headers:
        lower = key.lower()
        if not lower.startswith("mcp-"):
            continue
        if lower in found:
            raise header_mismatch(f"the {key} header is sent more than once")
        found[lower] = headers[key]
    return found


def _agree(name: str, header: str | None, body: Any, required: bool, sentinel: bool = False) -> None:
    if header is None:
        if required:
            raise header_mismatch(f"the required {name} header is missing (the body says {shown(str(body))})")
        return
    # Only Mcp-Name and Mcp-Param-* may use the base64 sentinel; elsewhere it is compared as sent.
    value = decode_header_value(name, header, sentinel)
    if not isinstance(body, str) or value != body:
        body_text = shown(body) if isinstance(body, str) else "nothing" if body is None else "a non-string"
        raise header_mismatch(f"{name} header value {shown(value)} does not match body value {body_text}")


def check_protocol_headers(headers: Mapping[str, str], message: dict) -> None:
    """streamable-http.mdx "Server Validation" for one JSON-RPC message (400, -32020).

    A modern request (its `_meta` names a protocol version) must carry MCP-Protocol-Version,
    Mcp-Method and, for tools/call, prompts/get and resources/read, Mcp-Name, each equal to the
    body. A 2025-era request need not send them, but any it sends must agree with the body and
    name a known revision. Mcp-Param-* headers mirror tool arguments named by the tool's schema,
    which this layer does not know: only their characters and encoding are checked here; the
    body is what the policy and the backend judge, so a wrong one cannot change a decision.
    """
    mcp = _lowered(headers)
    for key, raw in mcp.items():
        decode_header_value(
            key, raw, key == NAME_HEADER or key.startswith(PARAM_HEADER_PREFIX)
        )  # every MCP header: characters, and the sentinel if used
    method = message.get("method")
    is_request = isinstance(method, str) and "id" in message
    params = message.get("params")
    params = params if isinstance(params, dict) else {}
    meta = params.get("_meta")
    body_version = meta.get(methods.META_PROTOCOL_VERSION) if isinstance(meta, dict) else None
    header_version = mcp.get(PROTOCOL_VERSION_HEADER)
    header_version = header_version.strip(" \t") if header_version is not None else None
    modern = body_version is not None

    if modern:
        _agree("MCP-Protocol-Version", header_version, body_version, required=True)
        if body_version not in methods.MODERN_VERSIONS:
            raise unsupported_version(str(body_version), methods.MODERN_VERSIONS)
    elif header_version is not None:
        if header_version not in KNOWN_VERSIONS:
            raise unsupported_version(header_version)
        if is_request and header_version in methods.MODERN_VERSIONS:
            # A 2026-07-28 request whose envelope is missing: invalid params, as the revision's
            # servers answer it (the header is not contradicted, the body is incomplete).
            raise HttpRefusal(
                400,
                f"MCP-Protocol-Version is {shown(header_version)} but params._meta does not carry the required "
                f"{methods.META_PROTOCOL_VERSION!r} (and client capabilities) of that revision",
                INVALID_PARAMS,
            )

    if isinstance(method, str):
        _agree("Mcp-Method", mcp.get(METHOD_HEADER), method, required=modern and is_request)
    elif METHOD_HEADER in mcp:
        _agree("Mcp-Method", mcp[METHOD_HEADER], None, required=False)  # a response has no method

    name_key = NAME_BEARING_METHODS.get(method) if is_request and isinstance(method, str) else None
    if name_key is not None:
        body_name = params.get(name_key)
        _agree(
            "Mcp-Name", mcp.get(NAME_HEADER), body_name, required=modern and isinstance(body_name, str), sentinel=True
        )


# --- rate limit -------------------------------------------------------------------------------


def rate_limited(wait: float) -> HttpRefusal:
    """The 429 for a `take()` that returned `wait` seconds."""
    seconds = max(1, math.ceil(wait))
    return HttpRefusal(
        429,
        f"too many requests from this principal; retry after {seconds} s",
        headers={"Retry-After": str(seconds)},
    )
