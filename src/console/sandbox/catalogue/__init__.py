"""Connections and hooks, the read-only catalogue every account is seeded with."""
