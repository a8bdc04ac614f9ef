"""/api/public/v1/feeds/{feed_id}/imports: file imports of records (admin keys only).

POST streams the multipart form to disk, answers 202 once the file is there and the import
row is committed, and queues it for the runner; with `dry_run=true` it answers 200 with
what the first rows would do instead, changing nothing. GET reads an import's progress;
POST .../cancel stops it at a batch boundary. docs/api.md, "Imports", has every rule.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from console.sandbox.http.auth import Principal
from console.sandbox.http.errors import ApiError, Problem, not_found
from console.sandbox.http.log_capture import capture_of, entry_written
from console.sandbox.http.responses import correlation_id_of, json_response
from console.sandbox.http.routing import as_admin, database_of, resource
from console.sandbox.imports import store
from console.sandbox.imports.rows import FORMATS, FileProblem, check_header, count_rows, rows
from console.sandbox.imports.runner import (
    ImportJob,
    ImportRunner,
    settle_log_entry,
    uploads_directory,
)
from console.sandbox.imports.upload import Upload, receive_upload
from console.sandbox.logs.model import LogBodies
from console.sandbox.logs.redact import capture
from console.sandbox.logs.request_entry import bodies_from_request, entry_from_request, log_context
from console.sandbox.logs.store import insert_entry
from console.sandbox.records.store import (
    Actor,
    FeedRef,
    RecordError,
    actor_of,
    dumps_data,
    record_by_system_id,
    require_feed,
    system_id_of,
)
from console.sandbox.settings import ImportSettings, SandboxSettings
from console.sandbox.storage.sqlite import now

PREFIX = "/api/public/v1/feeds/{feed_id}/imports"
DRY_RUN_ROWS = 100
MAX_DRY_RUN_ROWS = 1000
MAX_START_ROW = 1_000_000_000
MAX_ID_FIELD = 100


@dataclasses.dataclass(frozen=True)
class Options:
    """The form's fields, checked."""

    file_format: str
    id_field: str
    dry_run: bool
    dry_run_rows: int
    start_row: int


def _integer(fields: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    text = fields.get(name, "")
    if not text:
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 12 or not low <= int(text) <= high:
        raise ApiError(
            400,
            [Problem("VALIDATION_FAILED", f"{name} must be an integer {low} to {high:,}.", name)],
        )
    return int(text)


def _options(upload: Upload, feed: FeedRef) -> Options:
    """Check the form fields (400 VALIDATION_FAILED listing every problem)."""
    fields = upload.fields
    problems: list[Problem] = []
    file_format = fields.get("format", "")
    if file_format not in FORMATS:
        problems.append(Problem("VALIDATION_FAILED", "format must be 'csv' or 'ndjson'.", "format"))
    id_field = fields.get("id_field", "") or feed.id_field
    if not 1 <= len(id_field) <= MAX_ID_FIELD:
        problems.append(
            Problem(
                "VALIDATION_FAILED", f"id_field must be 1 to {MAX_ID_FIELD} characters.", "id_field"
            )
        )
    dry_run_text = fields.get("dry_run", "false").lower()
    if dry_run_text not in ("true", "false", "1", "0", ""):
        problems.append(Problem("VALIDATION_FAILED", "dry_run must be true or false.", "dry_run"))
    numbers: dict[str, int] = {}
    for name, default, low, high in (
        ("dry_run_rows", DRY_RUN_ROWS, 1, MAX_DRY_RUN_ROWS),
        ("start_row", 1, 1, MAX_START_ROW),
    ):
        try:
            numbers[name] = _integer(fields, name, default, low, high)
        except ApiError as error:
            problems.extend(error.problems)
    if problems:
        raise ApiError(400, problems)
    return Options(
        file_format=file_format,
        id_field=id_field,
        dry_run=dry_run_text in ("true", "1"),
        dry_run_rows=numbers["dry_run_rows"],
        start_row=numbers["start_row"],
    )


def _runner(request: Request) -> ImportRunner:
    runner: ImportRunner = request.app.state.imports
    return runner


def _dry_run_rows(path: Path, options: Options) -> list[dict[str, Any]]:
    """The first rows' would-be outcomes, before looking at the feed (worker thread)."""
    found: list[dict[str, Any]] = []
    for row, item, error in rows(
        path, options.file_format, options.id_field, start_row=options.start_row,
        system_id_of=system_id_of,
    ):  # fmt: skip
        if len(found) >= options.dry_run_rows:
            break
        if item is None:
            assert error is not None
            found.append(
                {"row": row, "action": "reject", "system_id": None,
                 "field": error.field, "message": error.message}
            )  # fmt: skip
            continue
        system_id = system_id_of(item[options.id_field])
        try:
            dumps_data(item)  # the store's own size rule
        except RecordError as failure:
            found.append(
                {"row": row, "action": "reject", "system_id": system_id,
                 "field": failure.field, "message": failure.message}
            )  # fmt: skip
            continue
        found.append({"row": row, "action": "create", "system_id": system_id})
    return found


def _resolve(
    found: list[dict[str, Any]], feed: FeedRef, conn: sqlite3.Connection
) -> dict[str, Any]:
    """Create or update per row, by the feed's records (read-only) and earlier rows."""
    seen: set[str] = set()
    counts = {"create": 0, "update": 0, "reject": 0}
    for entry in found:
        system_id = entry["system_id"]
        if entry["action"] != "reject":
            exists = system_id in seen or record_by_system_id(conn, feed, system_id) is not None
            entry["action"] = "update" if exists else "create"
            seen.add(system_id)
        counts[entry["action"]] += 1
    return {
        "would_create": counts["create"],
        "would_update": counts["update"],
        "would_reject": counts["reject"],
        "rows": found,
    }


async def create_import(request: Request) -> Response:
    """POST .../imports: 202 {import_id, correlation_id}; 200 with the dry run's answer."""
    slug = request.path_params["feed_id"]
    correlation_id = correlation_id_of(request)

    def authorise(conn: sqlite3.Connection, principal: Principal) -> tuple[FeedRef, Actor]:
        feed = require_feed(conn, principal.account_id, slug)
        return feed, actor_of(conn, principal.key_id, correlation_id, "import")

    # Refuse an unknown key or feed before a byte of the file is read.
    feed, actor = await as_admin(request, authorise, write=False)
    settings: SandboxSettings = request.app.state.settings
    directory = uploads_directory(database_of(request).data_dir)
    upload = await receive_upload(request, directory, settings.bodies.idle_seconds)
    handed_over = False
    try:
        options = _options(upload, feed)
        feed = dataclasses.replace(feed, id_field=options.id_field)
        try:
            await asyncio.to_thread(check_header, upload.path, options.file_format)
        except FileProblem as problem:
            raise ApiError(
                400, [Problem("VALIDATION_FAILED", str(problem), problem.field)]
            ) from None
        if options.dry_run:
            found = await asyncio.to_thread(_dry_run_rows, upload.path, options)
            answer = await database_of(request).read(lambda conn: _resolve(found, feed, conn))
            return json_response(answer)

        # Counted now, off the event loop and the writer, so the status has its total
        # from the first answer on (about 0.1 s per 100,000 rows here).
        total = await asyncio.to_thread(count_rows, upload.path, options.file_format)
        if options.start_row > total + 1:
            # total + 1 (every row done) is a resume with nothing left: it succeeds at once.
            raise ApiError(
                400,
                [
                    Problem(
                        "VALIDATION_FAILED",
                        f"start_row {options.start_row} is past the file's last data row "
                        f"({total:,}); resume at last_row + 1, at most {total + 1:,}.",
                        "start_row",
                    )
                ],
            )

        request_bodies = await _request_bodies(request)

        def create(conn: sqlite3.Connection) -> tuple[int, Response]:
            current = require_feed(conn, feed.account_id, slug)
            seq, import_id = store.create_import(
                conn,
                account_id=current.account_id,
                feed_seq=current.seq,
                correlation_id=correlation_id,
                key_id=actor.key_id,
                key_shown=actor.key_shown,
                file_format=options.file_format,
                id_field=options.id_field,
                start_row=options.start_row,
                file_bytes=upload.file_bytes,
                total=total,
                at=now(),
            )
            response = json_response(
                {"import_id": import_id, "correlation_id": correlation_id}, status=202
            )
            _log(conn, request, current.account_id, seq, response, request_bodies, items=total)
            return seq, response

        seq, response = await database_of(request).run(create)
        entry_written(request)
        _runner(request).submit(
            ImportJob(seq, upload.path, options.file_format, options.start_row, feed, actor)
        )
        handed_over = True
    finally:
        if not handed_over:
            upload.remove()
    return response


def _log(
    conn: sqlite3.Connection,
    request: Request,
    account_id: int,
    seq: int,
    response: Response,
    request_bodies: LogBodies,
    *,
    items: int = 0,
) -> None:
    """Insert the connector log entry of an import request (create: queued, its status
    then follows the import; cancel: succeeded), in the route's transaction."""
    context = log_context(request)
    created = request.method == "POST" and not request.url.path.endswith("/cancel")
    entry = entry_from_request(
        request,
        account_id,
        feed=request.path_params["feed_id"],
        key_id=context.key_id,
        key_shown=context.key_shown,
        intent="import" if created else "import.cancel",
        http_status=response.status_code,
        items_received=items,
        processing_status="queued" if created else "succeeded",
        auth_via=context.auth_via,
        source="import" if created else None,
        source_seq=seq if created else None,
    )
    bodies = dataclasses.replace(request_bodies, response=capture(bytes(response.body))[0])
    log_id = insert_entry(conn, entry, bodies)
    if created:
        conn.execute("UPDATE imports SET log_id = ? WHERE seq = ?", (log_id, seq))


async def _request_bodies(request: Request) -> LogBodies:
    """What the log keeps of the request (its first 64 KiB, masked: regex work), built on
    a worker thread before the writer hop: never on the writer."""
    kept = capture_of(request)
    if kept is None:
        return bodies_from_request(request, b"", None)
    return await asyncio.to_thread(kept.request_bodies, request, None)


def _import_seq(
    conn: sqlite3.Connection, principal: Principal, slug: str, import_id: str
) -> tuple[int, FeedRef]:
    feed = require_feed(conn, principal.account_id, slug)
    seq = store.find_import(conn, principal.account_id, feed.seq, import_id)
    if seq is None:
        raise not_found(f"Import {import_id[:100]!r}")
    return seq, feed


async def get_import(request: Request) -> Response:
    """GET .../imports/{import_id}: the import's status and progress."""
    slug = request.path_params["feed_id"]
    import_id = request.path_params["import_id"]

    def work(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
        seq, feed = _import_seq(conn, principal, slug, import_id)
        return store.import_status(conn, seq, feed.slug)

    return json_response(await as_admin(request, work))


async def cancel_import(request: Request) -> Response:
    """POST .../imports/{import_id}/cancel: stop at a batch boundary; 200 with the status."""
    slug = request.path_params["feed_id"]
    import_id = request.path_params["import_id"]
    request_bodies = await _request_bodies(request)

    def work(conn: sqlite3.Connection, principal: Principal) -> Response:
        seq, feed = _import_seq(conn, principal, slug, import_id)
        active = store.status_of(conn, seq) in store.ACTIVE
        store.cancel(conn, seq, now())
        if active:
            settle_log_entry(conn, seq)  # the import's own entry: failed, cancelled
        response = json_response(store.import_status(conn, seq, feed.slug))
        _log(conn, request, principal.account_id, seq, response, request_bodies)
        return response

    response = await as_admin(request, work)
    entry_written(request)
    return response


def routes(settings: ImportSettings) -> list[BaseRoute]:
    """The import routes, the upload route with the import body cap."""
    return [
        resource(PREFIX, {"POST": create_import}, max_body_bytes=settings.max_upload_bytes),
        resource(PREFIX + "/{import_id}", {"GET": get_import}),
        resource(PREFIX + "/{import_id}/cancel", {"POST": cancel_import}),
    ]
