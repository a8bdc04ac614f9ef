"""Reading the contract's JSON fields into typed values."""

from __future__ import annotations

from typing import Any


def optional_float(value: Any) -> float | None:
    """A timestamp that may be null (never used, never expires, never synced)."""
    return None if value is None else float(value)
