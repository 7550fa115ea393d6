"""A proxy's request counters and latency trackers, reported to its API and the manager, and the
manager's Prometheus export of them."""
