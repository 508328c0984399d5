"""Candor: the application (the `candor` CLI and the demo), on top of `client/` and `server/`."""
