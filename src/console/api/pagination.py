"""Cursor pages of the contract: `{"data": [...], "pagination": {"next_cursor": ...}}`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from console.api.transport import ApiClient

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of items and the cursor of the next (None on the last page)."""

    items: list[T]
    next_cursor: str | None


async def fetch_page(
    client: ApiClient,
    path: str,
    parse: Callable[[dict[str, Any]], T],
    *,
    limit: int = 100,
    cursor: str | None = None,
    params: dict[str, Any] | None = None,
) -> Page[T]:
    """GET one cursor page and parse its items."""
    body = await client.get_json(path, {**(params or {}), "limit": limit, "cursor": cursor})
    pagination = body.get("pagination") or {}
    return Page([parse(item) for item in body.get("data", [])], pagination.get("next_cursor"))


async def iterate_pages(
    client: ApiClient,
    path: str,
    parse: Callable[[dict[str, Any]], T],
    *,
    limit: int = 100,
    params: dict[str, Any] | None = None,
) -> AsyncIterator[Page[T]]:
    """Yield pages until the server stops giving a cursor."""
    cursor: str | None = None
    while True:
        page = await fetch_page(client, path, parse, limit=limit, cursor=cursor, params=params)
        yield page
        if not page.next_cursor or page.next_cursor == cursor:
            return
        cursor = page.next_cursor
