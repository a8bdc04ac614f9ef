"""API keys: their rules, SQL and routes."""
