"""Storage of the sandbox: the SQLite database, its schema and migrations, the database thread."""
