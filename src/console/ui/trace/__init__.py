"""Find by ID: the toolbar field and Ctrl+K, and the trace of any request, correlation or
idempotency ID, record GUID or system id (its log entries, items and records)."""
