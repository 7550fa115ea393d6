"""Request counters (and, later, latency trackers) a proxy reports to its API and the manager."""
