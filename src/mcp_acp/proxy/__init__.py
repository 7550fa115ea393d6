"""The proxy: a message-level JSON-RPC relay between an MCP client and one backend."""
