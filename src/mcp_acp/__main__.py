from mcp_acp.cli.main import main

main()
