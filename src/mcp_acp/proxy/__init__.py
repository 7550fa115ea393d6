"""The proxy process: a message-level JSON-RPC relay between an MCP client and one backend, with the
enforcement point, human approvals, rate limits, the sanitizer, the operations recorder and the
control API on its Unix socket."""
