"""Storage of the sandbox: SQLite, its schema and migrations, the writer and reader threads."""
