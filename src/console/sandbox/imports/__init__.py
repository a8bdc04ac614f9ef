"""File imports of feed records: streamed multipart uploads, CSV/NDJSON rows, batches."""
