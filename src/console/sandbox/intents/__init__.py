"""Frontic-style intents: the ingest routes, the durable queue, its worker and outcomes."""
