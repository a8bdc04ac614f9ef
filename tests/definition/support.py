"""Helpers of the definition tests: the minimal document as a dict, and verdict summaries."""

from __future__ import annotations

import copy
from typing import Any

from console.definition import (
    MINIMAL_EXAMPLE_YAML,
    Catalog,
    ValidationResult,
    dump_json,
    dump_yaml,
    validate_text,
)

# The sandbox's standard catalogue of its first account: sources 1-4, destinations 5-7.
CATALOG = Catalog(
    source_connection_ids=frozenset({1, 2, 3, 4}),
    destination_connection_ids=frozenset({5, 6, 7}),
    hook_ids=frozenset({1, 2, 3}),
)

_MINIMAL = validate_text(MINIMAL_EXAMPLE_YAML).document
assert _MINIMAL is not None


def minimal() -> dict[str, Any]:
    """A fresh, mutable copy of the documented minimal example."""
    return copy.deepcopy(_MINIMAL)  # type: ignore[arg-type]


def full() -> dict[str, Any]:
    """A valid document using every optional part."""
    document = minimal()
    document["sync"]["auto_sync_new_tables"] = True
    document["tables"] = [
        {"name": "public.orders", "append_only": True, "columns": {"include": ["id", "total"]}},
        {"name": "public.customers", "columns": {"exclude": ["ssn"]}},
        {"name": "public.events", "columns": {}},  # nothing refers to this one
    ]
    document["transformations"] = [
        {"type": "toggle_case", "table": "public.customers", "config": {"case": "upper"}},
        {"type": "history_mode", "table": "public.orders"},
    ]
    document["hooks"] = [{"id": 1, "events": ["pipeline_failed", "sync_failed"]}]
    return document


def render(document: Any, fmt: str) -> str:
    """The document as YAML or JSON text."""
    return dump_yaml(document) if fmt == "yaml" else dump_json(document)


def verdicts(result: ValidationResult) -> list[tuple[str, str]]:
    """`[(kind, path), ...]` of every problem, in the result's order."""
    return [(p.kind.value, p.path) for p in result.problems]
