"""Helpers for the tests that drive real processes, one module per job.

processes: where the product and the fixture backend are, free ports, waiting. proxies: a proxy
spoken to in raw JSON-RPC. config: files under a test MCP_ACP_HOME and the policies tests run
under. audit: reading logs and checking hash chains. manager: the daemon under test. events: the
SSE streams a browser follows.
"""
