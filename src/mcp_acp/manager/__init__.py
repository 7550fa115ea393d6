"""The manager daemon: one per user; registers proxies, relays their events, serves the API and UI."""
