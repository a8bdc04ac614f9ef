"""The embedded platform server: the contract of PLATFORM_API.md on loopback with SQLite.

Nothing here imports Qt, the API client or the console's configuration.
"""
