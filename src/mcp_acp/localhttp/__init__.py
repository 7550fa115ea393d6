"""The local HTTP plumbing every process shares: private Unix-socket servers, the error shape, SSE
(the hub that serves a stream, the follower that reads one), the one client for a proxy's API and
the one for the manager's, starting the manager, and the proxy <-> manager wire protocol."""
