"""Command-line tools that are not the GUI: `validate` (and, later, `ingest`)."""
