"""Reading the contract's JSON fields into typed values."""

from __future__ import annotations

from typing import Any


def optional_float(value: Any) -> float | None:
    """A timestamp that may be null (never used, never expires, never synced)."""
    return None if value is None else float(value)


def optional_int(value: Any) -> int | None:
    """A number that may be null (a row or item index not naming one)."""
    return None if value is None else int(value)


def optional_str(value: Any) -> str | None:
    """A string or number that may be null (a system ID is either)."""
    return None if value is None else str(value)


def objects(value: Any) -> list[dict[str, Any]]:
    """The JSON objects of a list (anything else read as an empty list)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
