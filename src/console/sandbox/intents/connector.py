"""The simulated connector source behind trigger and polling feeds.

Deterministic: the record for system id X of feed F is a pure function of (F, X), so a
fetch repeated later changes nothing, and tests can predict what a fetch brings. Every id
exists in the source except those starting with `missing`, which let a fetch fail on purpose.
Polls walk a source of `SOURCE_SIZE` records a few at a time (docs/api.md, Intents).
"""

from __future__ import annotations

import hashlib
from typing import Any

# Ids starting with this are absent from the simulated source.
MISSING_PREFIX = "missing"
# How many records the source of a polling feed holds (polls cycle through them).
SOURCE_SIZE = 100
_STATUSES = ("active", "pending", "shipped", "delivered", "cancelled")
_NAMES = ("Alder", "Birch", "Cedar", "Dogwood", "Elm", "Fir", "Ginkgo", "Hazel", "Ivy", "Juniper")


class NotInSource(LookupError):
    """The simulated source has no record with this id."""


def source_record(feed: str, id_field: str, system_id: str) -> dict[str, Any]:
    """The source's record `system_id` of `feed` (raise NotInSource for `missing…` ids)."""
    if system_id.startswith(MISSING_PREFIX):
        raise NotInSource(f"the simulated source has no record {system_id}")
    digest = hashlib.sha256(f"{feed}\x00{system_id}".encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    return {
        id_field: system_id,
        "name": f"{_NAMES[number % len(_NAMES)]} {number % 997}",
        "status": _STATUSES[(number >> 8) % len(_STATUSES)],
        "amount": round((number >> 16) % 100_000 / 100, 2),
        "source_updated": f"rev-{digest[8:12].hex()}",
    }


def poll_ids(feed: str, poll: int, count: int) -> list[str]:
    """The ids poll number `poll` (0-based) of `feed` brings: the next `count` of the source."""
    first = poll * count
    return [f"{feed}-{(first + offset) % SOURCE_SIZE + 1:04d}" for offset in range(count)]
