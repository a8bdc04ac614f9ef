"""Feeds (and, later, their records): rules, SQL and routes."""
