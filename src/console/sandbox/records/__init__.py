"""Records of feeds: the store (writes and reads), list queries, the indexer and the routes."""
