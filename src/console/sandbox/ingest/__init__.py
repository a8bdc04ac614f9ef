"""Inspire-style stream ingestion: POST /api/ingest and its Idempotency-Key store."""
