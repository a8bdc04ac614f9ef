"""Shared HTTP plumbing of the sandbox: auth, limits, body cap, errors, responses, OpenAPI."""
