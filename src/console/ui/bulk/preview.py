"""The first items of a file to upload, read with the uploader's own parser, each checked for
the item key (no Qt here: it runs on a file thread)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.api.ingest_sources import SourceFormat, first_items, item_problem

PREVIEW_ITEMS = 20
# Items of up to 8 MiB each are valid: without a byte budget, 20 of them decoded at once
# would hold a gigabyte of Python objects for a preview that shows 200 characters a cell.
PREVIEW_BYTES = 1 << 20
MAX_COLUMNS = 8  # data fields shown besides the item key
MAX_CELL = 200  # characters of a value shown in a cell


@dataclass(frozen=True)
class PreviewItem:
    """One item: its index in the file, its key value shown, its cells, what is wrong
    (`lacks_key`: an object without a valid item key)."""

    number: int
    key: str
    cells: tuple[str, ...]
    problem: str | None
    lacks_key: bool


@dataclass(frozen=True)
class BulkPreview:
    """The first items of the file, checked for `item_key`."""

    path: Path
    format: SourceFormat
    item_key: str
    columns: tuple[str, ...]
    items: tuple[PreviewItem, ...]

    @property
    def flagged(self) -> int:
        """How many previewed items the server would refuse."""
        return sum(1 for item in self.items if item.problem is not None)

    @property
    def lacking_key(self) -> int:
        """How many previewed objects lack a valid item key."""
        return sum(1 for item in self.items if item.lacks_key)


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def read_bulk_preview(
    path: Path, fmt: SourceFormat, item_key: str, limit: int = PREVIEW_ITEMS
) -> BulkPreview:
    """Read and check the first `limit` items, at most PREVIEW_BYTES of them (OSError,
    SourceError as the uploader would)."""
    raw = first_items(path, fmt, limit, PREVIEW_BYTES)
    columns: list[str] = []
    for _number, item, _problem in raw:
        if isinstance(item, dict):
            for name in item:
                if name != item_key and name not in columns and len(columns) < MAX_COLUMNS:
                    columns.append(str(name))
    items = []
    for number, item, problem in raw:
        lacks_key = False
        if problem is None:
            problem = item_problem(item, item_key)
            lacks_key = problem is not None and isinstance(item, dict)
        key = ""
        cells: tuple[str, ...] = ()
        if isinstance(item, dict):
            key = _cell(item[item_key]) if item_key in item else ""
            cells = tuple(_cell(item[name]) if name in item else "" for name in columns)
        items.append(PreviewItem(number, key, cells, problem, lacks_key))
    return BulkPreview(path, fmt, item_key, tuple(columns), tuple(items))
