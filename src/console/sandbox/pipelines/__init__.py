"""Pipelines: definitions and revisions, the simulated runs, the scheduler, routes, OpenAPI."""
