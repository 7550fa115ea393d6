"""Bundled demo: a small file-and-notes MCP server and a scripted tour (`python -m mcp_acp.demo`)."""
