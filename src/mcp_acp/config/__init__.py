"""Configuration: every path (MCP_ACP_HOME), the models of manager.json and config.json, loading and
saving with clear errors, and the checks that mcp-acp's files and folders are private."""
