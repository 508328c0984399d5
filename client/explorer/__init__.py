"""The read-only explorer: `candor explore` (docs/explorer.md)."""
