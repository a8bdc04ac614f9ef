"""Connections and hooks: the read-only catalogue routes (the seed data lives in storage)."""
