"""File imports into a feed (`/api/public/v1/feeds/{feed_id}/imports`): CSV or NDJSON.

The file is streamed from disk as `multipart/form-data` (`multipart.py`), never read
whole into memory. Dry runs, cancel, `start_row` and the status's counters beyond the
contract's `status, total, processed, failed, errors` are sandbox extensions (docs/api.md);
a status from a server without them parses with those counters at 0.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from console.api.feeds import feed_path
from console.api.fields import objects, optional_float, optional_int, optional_str
from console.api.multipart import FieldValue, MultipartFile, Progress, form_fields
from console.api.transport import ApiClient

ImportFormat = Literal["csv", "ndjson"]
MEDIA_TYPES: dict[str, str] = {"csv": "text/csv", "ndjson": "application/x-ndjson"}
FINISHED = ("succeeded", "partially_failed", "failed", "cancelled", "interrupted")
# Stopped before the end of the file: `start_row = last_row + 1` picks up from there.
RESUMABLE = ("cancelled", "interrupted")
MAX_DRY_RUN_ROWS = 1000
_SCAN_CHUNK = 256 * 1024


@dataclass(frozen=True)
class ImportRowError:
    """One rejected row: its 1-based data row number (None: not one row's), field, why."""

    row: int | None
    field: str | None
    message: str


@dataclass(frozen=True)
class ImportStatus:
    """Where an import stands."""

    import_id: str
    correlation_id: str
    status: str
    total: int  # data rows seen so far (0 until the server has counted them)
    processed: int
    failed: int
    created: int
    updated: int
    last_row: int  # the last data row done: `start_row = last_row + 1` resumes
    errors: tuple[ImportRowError, ...]
    started_at: float | None = None
    finished_at: float | None = None
    unchanged: int = 0
    errors_omitted: int = 0  # rejected rows beyond the errors listed

    @property
    def is_finished(self) -> bool:
        """Nothing more will happen to this import."""
        return self.status in FINISHED

    @property
    def is_resumable(self) -> bool:
        """Stopped part-way (cancelled, or the server stopped): `resume_row` continues it."""
        return self.status in RESUMABLE

    @property
    def resume_row(self) -> int:
        """The `start_row` that continues after the last row done."""
        return self.last_row + 1

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ImportStatus:
        """Parse a status (or the 202 answer that started the import)."""
        return cls(
            import_id=str(body.get("import_id") or body.get("id") or ""),
            correlation_id=str(body.get("correlation_id") or ""),
            status=str(body.get("status") or "queued"),
            total=int(body.get("total") or 0),
            processed=int(body.get("processed") or 0),
            failed=int(body.get("failed") or 0),
            created=int(body.get("created") or 0),
            updated=int(body.get("updated") or 0),
            last_row=int(body.get("last_row") or 0),
            errors=tuple(
                ImportRowError(
                    row=optional_int(item.get("row")),
                    field=item.get("field") or None,
                    message=str(item.get("message") or ""),
                )
                for item in objects(body.get("errors"))
            ),
            started_at=optional_float(body.get("started_at")),
            finished_at=optional_float(body.get("finished_at")),
            unchanged=int(body.get("unchanged") or 0),
            errors_omitted=int(body.get("errors_omitted") or 0),
        )


@dataclass(frozen=True)
class DryRunRow:
    """What the import would do with one row."""

    row: int
    action: str  # create | update | reject
    system_id: str | None
    field: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class DryRun:
    """What importing the first rows would do, with nothing changed."""

    would_create: int
    would_update: int
    would_reject: int
    rows: tuple[DryRunRow, ...]

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> DryRun:
        """Parse the dry run's answer."""
        return cls(
            would_create=int(body.get("would_create") or 0),
            would_update=int(body.get("would_update") or 0),
            would_reject=int(body.get("would_reject") or 0),
            rows=tuple(
                DryRunRow(
                    row=int(item.get("row") or 0),
                    action=str(item.get("action") or ""),
                    system_id=optional_str(item.get("system_id")),
                    field=item.get("field") or None,
                    message=item.get("message") or None,
                )
                for item in objects(body.get("rows"))
            ),
        )


class ImportsApi:
    """File imports of one connection's feeds."""

    def __init__(self, client: ApiClient) -> None:
        self._client = client

    async def start(
        self,
        feed_id: str,
        path: str | os.PathLike[str],
        *,
        format: ImportFormat,
        id_field: str | None = None,
        start_row: int | None = None,
        fields: Mapping[str, FieldValue] | None = None,
        progress: Progress | None = None,
    ) -> ImportStatus:
        """Upload the file and start importing it (202); `progress(sent, total)` in bytes.

        `start_row` (1-based data row) resumes an import that stopped: pass the stopped
        import's `last_row + 1`. Rows already imported would only be updated again, never
        duplicated, but skipping them saves the work. `fields` are further form fields;
        a list is sent as `name[0]`, `name[1]`, ... A file that cannot be read (or
        shrinks while it is sent) raises OSError, not ApiError: the server is not at fault.
        """
        form: dict[str, FieldValue] = {"format": _checked_format(format)}
        if id_field is not None:
            form["id_field"] = id_field
        if start_row is not None:
            if start_row < 1:
                raise ValueError("start_row is a 1-based data row number")
            form["start_row"] = start_row
        form.update(fields or {})
        body = MultipartFile(
            form_fields(form), "file", path, content_type=MEDIA_TYPES[format], progress=progress
        )
        response = await self._client.request(
            "POST", imports_path(feed_id), content=body, headers=body.headers
        )
        return ImportStatus.from_json(response.json())

    async def dry_run(
        self,
        feed_id: str,
        path: str | os.PathLike[str],
        *,
        format: ImportFormat,
        id_field: str | None = None,
        rows: int = 100,
        start_row: int | None = None,
        fields: Mapping[str, FieldValue] | None = None,
    ) -> DryRun:
        """What importing `rows` data rows (from `start_row`, else the first) would do;
        nothing is changed.

        Only the start of the file is sent (the header and the rows up to the last one
        previewed): a preview of a huge file costs no more than one of a small file.
        """
        if not 1 <= rows <= MAX_DRY_RUN_ROWS:
            raise ValueError(f"rows must be 1..{MAX_DRY_RUN_ROWS}")
        form: dict[str, FieldValue] = {
            "format": _checked_format(format),
            "dry_run": True,
            "dry_run_rows": rows,
        }
        if id_field is not None:
            form["id_field"] = id_field
        skipped = 0
        if start_row is not None:
            if start_row < 1:
                raise ValueError("start_row is a 1-based data row number")
            form["start_row"] = start_row
            skipped = start_row - 1
        form.update(fields or {})
        length = await asyncio.to_thread(prefix_length, Path(path), format, skipped + rows)
        body = MultipartFile(
            form_fields(form), "file", path, content_type=MEDIA_TYPES[format], length=length
        )
        response = await self._client.request(
            "POST", imports_path(feed_id), content=body, headers=body.headers
        )
        return DryRun.from_json(response.json())

    async def status(self, feed_id: str, import_id: str) -> ImportStatus:
        """Where the import stands now."""
        return ImportStatus.from_json(await self._client.get_json(import_path(feed_id, import_id)))

    async def watch(
        self, feed_id: str, import_id: str, *, interval: float = 0.25
    ) -> AsyncIterator[ImportStatus]:
        """Yield the import's status every `interval` s until it is finished (the last one
        yielded is finished); a caller stops early by leaving the loop."""
        while True:
            status = await self.status(feed_id, import_id)
            yield status
            if status.is_finished:
                return
            await asyncio.sleep(interval)

    async def cancel(self, feed_id: str, import_id: str) -> ImportStatus:
        """Stop the import at its next batch boundary (extension); its status after."""
        return ImportStatus.from_json(
            await self._client.post_json(f"{import_path(feed_id, import_id)}/cancel", None)
        )


def prefix_length(path: Path, format: str, rows: int) -> int:
    """Bytes of the file up to the end of its `rows`-th data row (after a CSV header).

    Blank lines count as no row. A CSV newline inside quotes does not end a row: quote
    characters toggle, and an escaped quote (`""`) toggles twice.
    """
    wanted = rows + (1 if format == "csv" else 0)
    counted = 0
    offset = 0
    quoted = False
    row_has_text = False
    with path.open("rb") as handle:
        while chunk := handle.read(_SCAN_CHUNK):
            start = 0
            while True:
                newline = chunk.find(b"\n", start)
                piece = chunk[start:] if newline < 0 else chunk[start:newline]
                if format == "csv" and piece.count(b'"') % 2:
                    quoted = not quoted
                row_has_text = row_has_text or bool(piece.strip())
                if newline < 0:
                    break
                if not quoted and row_has_text:
                    counted += 1
                    row_has_text = False
                    if counted == wanted:
                        return offset + newline + 1
                start = newline + 1
            offset += len(chunk)
    return offset


def imports_path(feed_id: str) -> str:
    """The feed's imports collection."""
    return f"{feed_path(feed_id)}/imports"


def import_path(feed_id: str, import_id: str) -> str:
    """One import of the feed."""
    return f"{imports_path(feed_id)}/{quote(import_id, safe='')}"


def _checked_format(format: str) -> str:
    if format not in MEDIA_TYPES:
        raise ValueError("format must be csv or ndjson")
    return format
