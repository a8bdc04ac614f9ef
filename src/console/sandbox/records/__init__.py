<<<<<<< HEAD
"""Records of feeds: the store (writes and reads), list queries, the indexer and the routes."""
=======
"""Records of feeds (placeholder until records-core lands)."""
>>>>>>> intents
