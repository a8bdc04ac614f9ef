"""What an intent's body must be, checked before the 202 and again by the worker.

Pure CPU work on bytes and parsed JSON: it runs on the event loop (small bodies) or a worker
thread (large ones), never on the database writer thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from console.sandbox.http.errors import ApiError, Problem
from console.sandbox.http.payload import (
    check_json_depth,
    may_hold_huge_number,
    parse_json,
    shown_key,
)
from console.sandbox.records.store import MAX_SYSTEM_ID_LENGTH, system_id_of

# The intents of the contract, in the order the docs list them.
INTENTS = ("upsert", "patch", "delete", "fetch", "fetch-list")
# Pull intents: only on trigger and polling feeds (409 FEED_METHOD_MISMATCH otherwise).
FETCHES = frozenset({"fetch", "fetch-list"})
# The queue's own intent for a scheduled poll of a polling feed (never sent by a client).
POLL = "poll"
# The most items (records, patches or ids) one request may carry (docs/api.md, Intents).
MAX_ITEMS = 10_000
# Bodies from this size are parsed on a worker thread rather than on the event loop.
THREAD_PARSE_BYTES = 64 * 1024

# What a valid id is, as the errors say it (the records store's rule, `system_id_of`).
ID_RULE = f"a non-empty string of at most {MAX_SYSTEM_ID_LENGTH} characters or an integer"


@dataclass(frozen=True)
class IntentBody:
    """A checked body: the items of an upsert or patch, or the system ids of the others."""

    intent: str
    items: tuple[dict[str, Any], ...] = ()
    system_ids: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        """How many items (records, patches or ids) it carries."""
        return len(self.items) or len(self.system_ids)


def _invalid(message: str, field: str | None = None) -> Problem:
    return Problem("INVALID_PAYLOAD", message, field)


def _non_finite_problems(document: Any) -> list[Problem]:
    """400 problems for numbers too large to be finite (`1e400` parses to inf)."""
    problems: list[Problem] = []
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(
                (f"{path}.{shown_key(key)}" if path else shown_key(key), item)
                for key, item in reversed(value.items())
            )
        elif isinstance(value, list):
            stack.extend(
                (f"{path}[{index}]", item) for index, item in reversed(list(enumerate(value)))
            )
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(
                _invalid(f"{path or 'The body'} is a number too large to be finite.", path or None)
            )
    return problems


def parse_body(raw: bytes) -> Any:
    """Parse a body as strict JSON; raise 400 INVALID_PAYLOAD naming the position or field."""
    if not raw.strip():
        raise ApiError.single(400, "INVALID_PAYLOAD", "The body is empty; send a JSON body.")
    check_json_depth(raw)
    document = parse_json(raw)
    if may_hold_huge_number(raw):
        problems = _non_finite_problems(document)
        if problems:
            raise ApiError(400, problems)
    return document


def _identified_items(document: Any, id_field: str, what: str) -> tuple[dict[str, Any], ...]:
    """The objects of an upsert or patch body, each carrying a valid `id_field` value."""
    shown_field = shown_key(id_field)
    if isinstance(document, dict):
        items: list[Any] = [document]
        prefix = None
    elif isinstance(document, list):
        items = document
        prefix = ""
        if not items:
            raise ApiError.single(
                400, "INVALID_PAYLOAD", f"The body is an empty array; send at least one {what}."
            )
    else:
        raise ApiError.single(
            400, "INVALID_PAYLOAD", f"The body must be a {what} object or an array of them."
        )
    if len(items) > MAX_ITEMS:
        raise ApiError.single(
            400,
            "INVALID_PAYLOAD",
            f"The body holds {len(items):,} items; at most {MAX_ITEMS:,} are accepted per request.",
        )
    problems: list[Problem] = []
    for index, item in enumerate(items):
        at = "" if prefix is None else f"[{index}]"
        if not isinstance(item, dict):
            problems.append(_invalid(f"Item {at} must be an object.", at or None))
            continue
        field = f"{at}.{shown_field}" if at else shown_field
        if id_field not in item:
            problems.append(
                _invalid(f"{field} is missing: every {what} carries the feed's id field.", field)
            )
        elif system_id_of(item[id_field]) is None:
            problems.append(_invalid(f"{field} must be {ID_RULE}.", field))
    if problems:
        raise ApiError(400, problems)
    return tuple(items)


def _system_ids(document: Any, *, single: bool, many: bool) -> tuple[str, ...]:
    """The ids of a delete, fetch or fetch-list body: `{"id": x}` and/or `{"ids": [...]}`."""
    allowed = [name for name, wanted in (("id", single), ("ids", many)) if wanted]
    shape = " or ".join({"id": '{"id": ...}', "ids": '{"ids": [...]}'}[name] for name in allowed)
    if not isinstance(document, dict):
        raise ApiError.single(400, "INVALID_PAYLOAD", f"The body must be {shape}.")
    problems = [
        _invalid(f"Unknown key {shown_key(key)!r}; the body must be {shape}.", shown_key(key))
        for key in document
        if key not in allowed
    ]
    present = [name for name in allowed if name in document]
    if len(present) != 1:
        field = None if not present else "ids"
        message = (
            f"The body must be {shape}." if not present else 'Send either "id" or "ids", not both.'
        )
        problems.insert(0, _invalid(message, field))
        raise ApiError(400, problems)
    if problems:
        raise ApiError(400, problems)
    if present[0] == "id":
        system_id = system_id_of(document["id"])
        if system_id is None:
            raise ApiError.single(400, "INVALID_PAYLOAD", f"id must be {ID_RULE}.", "id")
        return (system_id,)
    values = document["ids"]
    if not isinstance(values, list) or not values:
        raise ApiError.single(
            400, "INVALID_PAYLOAD", "ids must be a non-empty array of ids.", "ids"
        )
    if len(values) > MAX_ITEMS:
        raise ApiError.single(
            400,
            "INVALID_PAYLOAD",
            f"ids holds {len(values):,} ids; at most {MAX_ITEMS:,} are accepted per request.",
            "ids",
        )
    system_ids: list[str] = []
    for index, value in enumerate(values):
        system_id = system_id_of(value)
        if system_id is None:
            problems.append(_invalid(f"ids[{index}] must be {ID_RULE}.", f"ids[{index}]"))
        else:
            system_ids.append(system_id)
    if problems:
        raise ApiError(400, problems)
    return tuple(system_ids)


def check_body(intent: str, document: Any, id_field: str) -> IntentBody:
    """Check a parsed body for `intent` on a feed whose id field is `id_field`; raise 400
    INVALID_PAYLOAD listing every problem (each naming its item, e.g. `[3].id`)."""
    if intent == "upsert":
        return IntentBody(intent, items=_identified_items(document, id_field, "record"))
    if intent == "patch":
        return IntentBody(intent, items=_identified_items(document, id_field, "patch"))
    if intent == "delete":
        return IntentBody(intent, system_ids=_system_ids(document, single=True, many=True))
    if intent == "fetch":
        return IntentBody(intent, system_ids=_system_ids(document, single=True, many=False))
    if intent in ("fetch-list", POLL):
        return IntentBody(intent, system_ids=_system_ids(document, single=False, many=True))
    raise ValueError(f"unknown intent {intent!r}")


class RefusedBody(ApiError):
    """A body that parsed as JSON but was refused: how many items it held, so that the
    refusal's log entry says what was received (docs/api.md "items_received")."""

    def __init__(self, error: ApiError, items_received: int) -> None:
        super().__init__(error.status, error.problems, headers=error.headers)
        self.items_received = items_received


def items_in(intent: str, document: Any) -> int:
    """How many items a parsed body holds as received, valid or not: an array's length
    or 1 for one object (upsert, patch); the `ids` given, or 1 for an `id` (the others)."""
    if intent in ("upsert", "patch"):
        if isinstance(document, list):
            return len(document)
        return 1 if isinstance(document, dict) else 0
    if not isinstance(document, dict):
        return 0
    ids = document.get("ids")
    return (len(ids) if isinstance(ids, list) else 0) + (1 if "id" in document else 0)


def read_intent(intent: str, raw: bytes, id_field: str) -> IntentBody:
    """Parse and check a raw body (what the route does before the 202, and the worker after).

    A body that parses but is refused raises RefusedBody (an ApiError) with its item count.
    """
    document = parse_body(raw)
    try:
        return check_body(intent, document, id_field)
    except ApiError as error:
        raise RefusedBody(error, items_in(intent, document)) from None
