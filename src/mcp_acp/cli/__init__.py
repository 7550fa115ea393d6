"""The `mcp-acp` command line: one module per command group."""
