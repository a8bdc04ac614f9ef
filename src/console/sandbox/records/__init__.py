"""Records of feeds (placeholder until records-core lands)."""
