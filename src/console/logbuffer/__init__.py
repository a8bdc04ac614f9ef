"""The Ingest Logs view's entries in memory, without Qt: numpy columns with category codes,
vectorised filters, histograms, error groups and export (issue 13)."""
