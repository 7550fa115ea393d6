"""Use cases shared by the CLI and the manager daemon: create a proxy, store its API key, delete and
archive it, the archive catalogue, MCP client snippets, sign-in status. Neither process owns them,
so both call them here instead of one importing the other."""
