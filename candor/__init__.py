"""Candor: the application package (CLI) and the generated wire code under `candor.v1`."""
