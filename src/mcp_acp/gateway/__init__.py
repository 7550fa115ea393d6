"""Gateway mode (docs/gateway.md): `mcp-acp serve` exposes every configured proxy to remote MCP
clients over streamable HTTP, each request authenticated as an OAuth 2.1 resource server and
then judged, approved and recorded by the same relay, enforcer and audit trail as STDIO."""
