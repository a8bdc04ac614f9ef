"""/api/public/v1/pipelines: definitions (YAML or JSON), revisions, and the run controls.

Order of checks on every route: 413 (the body cap, `http/body_limit.py`) and a JSON body
nested too deeply (400), before anything else; then 401/403 (the key), 404 (the pipeline,
before anything else about the body), 415 and undecodable bodies, 412 (If-Match), then the
definition's own 400/422. A route first applies the simulation steps already due for its
pipeline, so it always answers with the state the pipeline has at this instant.

Reads run on read-only connections (a write hop only when a step is already due);
definitions are checked and converted by `DefinitionChecker`, off the database threads,
and stored in one short write hop that verifies the catalogue the check used.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from console.definition import Catalog
from console.sandbox.http.auth import Principal
from console.sandbox.http.errors import ApiError, conflict, invalid, not_found, validation_failed
from console.sandbox.http.pagination import parse_numbered_page, repeated_differently
from console.sandbox.http.payload import check_json_depth, shown_key
from console.sandbox.http.responses import json_response
from console.sandbox.http.routing import as_admin, resource
from console.sandbox.logs.model import LogSignal
from console.sandbox.pipelines import runs as pipeline_runs
from console.sandbox.pipelines import store as pipelines
from console.sandbox.pipelines.checking import DefinitionChecker
from console.sandbox.pipelines.scheduler import PipelineScheduler
from console.sandbox.pipelines.store import (
    AcceptedDefinition,
    DefinitionFormat,
    SubmittedDefinition,
)
from console.sandbox.settings import PipelineTiming
from console.sandbox.storage.sqlite import now

T = TypeVar("T")
PREFIX = "/api/public/v1/pipelines"
# How often a definition is checked again when the catalogue changes under it.
CATALOGUE_ATTEMPTS = 3
YAML_MEDIA_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
MEDIA_TYPE_OF: dict[DefinitionFormat, str] = {
    "yaml": "application/yaml; charset=utf-8",
    "json": "application/json; charset=utf-8",
}
_FLAGS = {"true": True, "1": True, "false": False, "0": False}


def format_of_content_type(content_type: str | None) -> DefinitionFormat | None:
    """yaml or json for a definition body's Content-Type; None for anything else."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in YAML_MEDIA_TYPES:
        return "yaml"
    if media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return "json"
    return None


def _quality(accept: str, candidates: tuple[str, ...]) -> float:
    """The q an Accept header gives the best of `candidates` (most specific range wins)."""
    best = 0.0
    for candidate in candidates:
        kind = candidate.split("/", 1)[0]
        found: tuple[int, float] | None = None
        for item in accept.split(","):
            media_range, *parameters = (part.strip() for part in item.split(";"))
            media_range = media_range.lower()
            specificity = {candidate: 3, f"{kind}/*": 2, "*/*": 1}.get(media_range)
            if specificity is None:
                continue
            q = 1.0
            for parameter in parameters:
                name, _, value = parameter.partition("=")
                if name.strip().lower() == "q":
                    try:
                        q = float(value)
                    except ValueError:
                        q = 0.0
            if found is None or specificity > found[0]:
                found = (specificity, q)
        if found is not None:
            best = max(best, found[1])
    return best


def preferred_format(accept: str | None) -> DefinitionFormat:
    """YAML when Accept prefers a YAML type to application/json; JSON otherwise.

    JSON is the default: no Accept, `*/*`, a tie, and an Accept naming neither (the
    contract lists no 406, so such a client gets JSON rather than an error).
    """
    if not accept:
        return "json"
    yaml_q = _quality(accept, YAML_MEDIA_TYPES)
    return "yaml" if yaml_q > _quality(accept, ("application/json",)) else "json"


def if_match_allows(header: str | None, revision: int) -> bool:
    """Whether an If-Match header (absent, `*`, `"3"`, `3` or `W/"3"`) names `revision`."""
    if header is None:
        return True
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        tag = tag.removeprefix("W/")
        if len(tag) >= 2 and tag.startswith('"') and tag.endswith('"'):
            tag = tag[1:-1]
        if tag == str(revision):
            return True
    return False


def etag(revision: int) -> str:
    """The ETag of a pipeline revision."""
    return f'"{revision}"'


@dataclass(frozen=True)
class DefinitionBody:
    """A request's definition, or the error it must produce once the caller is known."""

    submitted: SubmittedDefinition | None
    error: ApiError | None = None

    def definition(self) -> SubmittedDefinition:
        """The submitted definition; raise its 415 or 400."""
        if self.submitted is None:
            assert self.error is not None, "a body is either a definition or an error"
            raise self.error
        return self.submitted


async def read_definition(request: Request) -> DefinitionBody:
    """Read a definition body: YAML or JSON by Content-Type (415 otherwise), UTF-8 text.

    The body cap (1 MiB) is the body-limit middleware's; a JSON body nested too deeply
    raises its 400 at once, before authentication, and before any parser recurses.
    """
    raw = await request.body()
    content_type = request.headers.get("content-type")
    definition_format = format_of_content_type(content_type)
    if definition_format is None:
        sent = f"Content-Type {content_type!r}" if content_type else "A body without Content-Type"
        return DefinitionBody(
            None,
            ApiError.single(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                f"{sent} is not supported; send the definition as application/yaml "
                "or application/json.",
            ),
        )
    if definition_format == "json":
        check_json_depth(raw)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return DefinitionBody(
            None,
            ApiError.single(400, "INVALID_PAYLOAD", f"The body is not UTF-8 (byte {exc.start})."),
        )
    return DefinitionBody(SubmittedDefinition(text, definition_format))


def _flag(query: Mapping[str, str], name: str) -> bool:
    """A boolean query parameter: true/false/1/0 (absent is false); else 400."""
    if problems := repeated_differently(query, name):
        raise validation_failed(problems)
    value = query.get(name)
    if value is None:
        return False
    flag = _FLAGS.get(value.strip().lower())
    if flag is None:
        raise validation_failed([invalid(name, f"{name} must be true or false.")])
    return flag


def _timing(request: Request) -> PipelineTiming:
    timing: PipelineTiming = request.app.state.settings.pipelines
    return timing


def _wake_scheduler(request: Request) -> None:
    scheduler: PipelineScheduler = request.app.state.scheduler
    scheduler.wake()


def _correlation_id(request: Request) -> str | None:
    """The request's correlation id (set by ContractMiddleware), for its events' log entries."""
    value = request.scope.get("state", {}).get("correlation_id")
    return value if isinstance(value, str) else None


def _notify_logs(request: Request) -> None:
    """A write that may have logged pipeline events committed: wake the live tail."""
    signal: LogSignal | None = getattr(request.app.state, "log_signal", None)
    if signal is not None:
        signal.notify()


def _pipeline_id(request: Request) -> int:
    """The addressed pipeline id; 404 for a path segment that cannot be one."""
    text = request.path_params["pipeline_id"]
    # At most 18 ASCII digits: anything else cannot be an id (and must not overflow SQLite).
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise not_found("Pipeline")
    return int(text)


def _current(
    conn: sqlite3.Connection, principal: Principal, request: Request, at: float
) -> sqlite3.Row:
    """The addressed pipeline of the caller's account, with its due steps applied (or 404)."""
    pipeline_id = _pipeline_id(request)
    row = pipelines.find_pipeline(conn, principal.account_id, pipeline_id)
    if pipeline_runs.advance(conn, _timing(request), at, pipeline_id=pipeline_id):
        row = pipelines.find_pipeline(conn, principal.account_id, pipeline_id)
    return row


class _StepsDue:
    """A read found a simulation step already due: the writer must apply it first."""


_STEPS_DUE = _StepsDue()


@dataclass(frozen=True)
class _CatalogueChanged:
    """The account's catalogue differs from the one the definition was checked against."""

    catalog: Catalog


def _is_due(row: sqlite3.Row, at: float) -> bool:
    due = row["due_at"]
    return isinstance(due, int | float) and due <= at


async def _read_pipeline(
    request: Request, read: Callable[[sqlite3.Connection, Principal, sqlite3.Row], T]
) -> T:
    """Run `read` on the addressed pipeline as it is at this instant.

    On a read connection when no step of the pipeline is due (the scheduler keeps it so);
    otherwise in one write hop that applies the due steps first, as the scheduler would.
    """

    def on_reader(conn: sqlite3.Connection, principal: Principal) -> T | _StepsDue:
        row = pipelines.find_pipeline(conn, principal.account_id, _pipeline_id(request))
        return _STEPS_DUE if _is_due(row, now()) else read(conn, principal, row)

    def on_writer(conn: sqlite3.Connection, principal: Principal) -> T:
        return read(conn, principal, _current(conn, principal, request, now()))

    outcome = await as_admin(request, on_reader, write=False)
    if isinstance(outcome, _StepsDue):
        written = await as_admin(request, on_writer, write=True)
        _notify_logs(request)
        return written
    return outcome


def _checker(request: Request) -> DefinitionChecker:
    checker: DefinitionChecker = request.app.state.checker
    return checker


def _write_if_same_catalogue(
    conn: sqlite3.Connection,
    principal: Principal,
    *,
    write: Callable[[sqlite3.Connection, Principal, AcceptedDefinition], T],
    accepted: AcceptedDefinition,
    checked: Catalog,
) -> T | _CatalogueChanged:
    current = pipelines.catalog_of(conn, principal.account_id)
    if current != checked:
        return _CatalogueChanged(current)
    return write(conn, principal, accepted)


async def _store_checked(
    request: Request,
    submitted: SubmittedDefinition,
    catalog: Catalog,
    write: Callable[[sqlite3.Connection, Principal, AcceptedDefinition], T],
) -> T:
    """Check a definition off the database threads, then `write` it in one write hop.

    The write hop first verifies that the account's catalogue is still the one the check
    used (two small indexed reads), so the check and the write see the same catalogue;
    when it changed meanwhile, the definition is checked again against the new one.
    """
    for _ in range(CATALOGUE_ATTEMPTS):
        accepted = await _checker(request).check(submitted, catalog)

        hop = partial(_write_if_same_catalogue, write=write, accepted=accepted, checked=catalog)
        outcome = await as_admin(request, hop, write=True)
        if not isinstance(outcome, _CatalogueChanged):
            return outcome
        catalog = outcome.catalog
    raise conflict(
        "The account's connections or hooks kept changing while the definition was "
        "checked; send it again."
    )


def _metadata_response(row: sqlite3.Row, status: int = 200) -> Response:
    response = json_response(pipelines.pipeline_metadata(row), status=status)
    response.headers["ETag"] = etag(int(row["revision"]))
    return response


async def list_pipelines(request: Request) -> Response:
    """GET /pipelines: one page of the account's pipelines, newest first."""

    def listing(
        conn: sqlite3.Connection, principal: Principal, *, reading: bool
    ) -> dict[str, Any] | _StepsDue:
        page = parse_numbered_page(request.query_params)
        include_archived = _flag(request.query_params, "include_archived")
        at = now()
        if reading:
            if pipeline_runs.has_due_steps(conn, at, account_id=principal.account_id):
                return _STEPS_DUE
        else:
            pipeline_runs.advance(conn, _timing(request), at, account_id=principal.account_id)
        return pipelines.list_pipelines(
            conn, principal.account_id, page, include_archived=include_archived
        )

    outcome = await as_admin(request, partial(listing, reading=True), write=False)
    if isinstance(outcome, _StepsDue):
        outcome = await as_admin(request, partial(listing, reading=False), write=True)
        _notify_logs(request)
    return json_response(outcome)


async def _new_definition(request: Request) -> tuple[SubmittedDefinition, Catalog]:
    """The body of a create or validate request and the catalogue it is checked against."""
    body = await read_definition(request)

    def prepare(
        conn: sqlite3.Connection, principal: Principal
    ) -> tuple[SubmittedDefinition, Catalog]:
        return body.definition(), pipelines.catalog_of(conn, principal.account_id)

    return await as_admin(request, prepare, write=False)


async def create_pipeline(request: Request) -> Response:
    """POST /pipelines: a new draft pipeline at revision 1."""
    submitted, catalog = await _new_definition(request)

    def insert(
        conn: sqlite3.Connection, principal: Principal, accepted: AcceptedDefinition
    ) -> sqlite3.Row:
        pipeline_id = pipelines.insert_pipeline(conn, principal.account_id, accepted, at=now())
        return pipelines.find_pipeline(conn, principal.account_id, pipeline_id)

    row = await _store_checked(request, submitted, catalog, insert)
    response = _metadata_response(row, status=201)
    response.headers["Location"] = f"{PREFIX}/{row['id']}"
    return response


async def validate_new(request: Request) -> Response:
    """POST /pipelines/validate: the checks of create, nothing stored."""
    submitted, catalog = await _new_definition(request)
    await _checker(request).check(submitted, catalog, convert_it=False)
    return json_response({"valid": True})


async def get_pipeline(request: Request) -> Response:
    """GET /pipelines/{id}: the pipeline's metadata."""

    def read(conn: sqlite3.Connection, principal: Principal, row: sqlite3.Row) -> sqlite3.Row:
        return row

    return _metadata_response(await _read_pipeline(request, read))


async def archive_pipeline(request: Request) -> Response:
    """DELETE /pipelines/{id}: archive (a deployed pipeline is torn down first)."""

    def work(conn: sqlite3.Connection, principal: Principal) -> sqlite3.Row:
        at = now()
        row = _current(conn, principal, request, at)
        pipeline_runs.archive(conn, row, at, _correlation_id(request))
        return pipelines.find_pipeline(conn, principal.account_id, int(row["id"]))

    row = await as_admin(request, work)
    _notify_logs(request)
    return _metadata_response(row)


@dataclass(frozen=True)
class _StoredDefinition:
    text: str
    format: DefinitionFormat
    converted: str | None
    canonical: str
    revision: int


async def get_definition(request: Request) -> Response:
    """GET /pipelines/{id}/definition: YAML or JSON by Accept (JSON by default), with ETag.

    Both renderings were made when the definition was written; a row from before that
    is converted here, off the database threads. A stored definition that cannot be
    converted at all (a corrupt row) is served as it was sent, in its own format.
    """
    wanted = preferred_format(request.headers.get("accept"))

    def read(conn: sqlite3.Connection, principal: Principal, row: sqlite3.Row) -> _StoredDefinition:
        return _StoredDefinition(
            text=str(row["definition_text"]),
            format=row["definition_format"],
            converted=row["definition_converted"],
            canonical=str(row["definition_json"]),
            revision=int(row["revision"]),
        )

    stored = await _read_pipeline(request, read)
    served, text = stored.format, stored.text  # as sent: comments and key order kept
    if wanted != stored.format:
        converted = stored.converted
        if converted is None:
            converted = await _checker(request).convert_stored(
                stored.text, stored.format, stored.canonical
            )
        if converted is not None:
            served, text = wanted, converted
    return Response(
        text,
        media_type=MEDIA_TYPE_OF[served],
        headers={"ETag": etag(stored.revision), "Vary": "Accept"},
    )


def _check_replaceable(row: sqlite3.Row, if_match: str | None) -> None:
    """412 unless If-Match names the current revision, then 409 if the pipeline is archived."""
    revision = int(row["revision"])
    if not if_match_allows(if_match, revision):
        raise ApiError.single(
            412,
            "PRECONDITION_FAILED",
            f"The pipeline is at revision {revision}, not the one If-Match names "
            f"({shown_key(if_match or '')}); fetch the current definition and apply your "
            "change to it.",
        )
    if row["status"] == "archived":
        # Whatever the body says, nothing can be applied: say that first.
        raise conflict("The pipeline is archived; its definition can no longer change.")


async def replace_definition(request: Request) -> Response:
    """PUT /pipelines/{id}/definition: apply a new revision; the same document is a no-op."""
    body = await read_definition(request)
    if_match = request.headers.get("if-match")

    def prepare(
        conn: sqlite3.Connection, principal: Principal
    ) -> tuple[SubmittedDefinition, Catalog]:
        # Due steps never change the revision or archive, so the read snapshot decides
        # 404, 412 and 409 as the writer would; the write hop checks them again.
        row = pipelines.find_pipeline(conn, principal.account_id, _pipeline_id(request))
        submitted = body.definition()
        _check_replaceable(row, if_match)
        return submitted, pipelines.catalog_of(conn, principal.account_id)

    submitted, catalog = await as_admin(request, prepare, write=False)

    def replace(
        conn: sqlite3.Connection, principal: Principal, accepted: AcceptedDefinition
    ) -> sqlite3.Row:
        at = now()
        row = _current(conn, principal, request, at)
        _check_replaceable(row, if_match)
        pipelines.replace_definition(conn, row, accepted, at=at)
        return pipelines.find_pipeline(conn, principal.account_id, int(row["id"]))

    return _metadata_response(await _store_checked(request, submitted, catalog, replace))


async def validate_replacement(request: Request) -> Response:
    """POST /pipelines/{id}/definition/validate: the checks of replace, nothing stored."""
    body = await read_definition(request)

    def prepare(
        conn: sqlite3.Connection, principal: Principal
    ) -> tuple[SubmittedDefinition, Catalog]:
        pipelines.find_pipeline(conn, principal.account_id, _pipeline_id(request))
        return body.definition(), pipelines.catalog_of(conn, principal.account_id)

    submitted, catalog = await as_admin(request, prepare, write=False)
    await _checker(request).check(submitted, catalog, convert_it=False)
    return json_response({"valid": True})


async def start_pipeline(request: Request) -> Response:
    """POST /pipelines/{id}/start: deploy; a deploying or running pipeline is left as is."""

    def work(conn: sqlite3.Connection, principal: Principal) -> sqlite3.Row:
        at = now()
        row = _current(conn, principal, request, at)
        pipeline_runs.start(conn, row, _timing(request), at)
        return pipelines.find_pipeline(conn, principal.account_id, int(row["id"]))

    row = await as_admin(request, work)
    _wake_scheduler(request)
    _notify_logs(request)
    return _metadata_response(row)


async def stop_pipeline(request: Request) -> Response:
    """POST /pipelines/{id}/stop[?force=true]: stop gracefully (409 during a sync) or by force."""

    def work(conn: sqlite3.Connection, principal: Principal) -> sqlite3.Row:
        at = now()
        row = _current(conn, principal, request, at)
        force = _flag(request.query_params, "force")
        pipeline_runs.stop(
            conn, row, _timing(request), at, force=force, correlation_id=_correlation_id(request)
        )
        return pipelines.find_pipeline(conn, principal.account_id, int(row["id"]))

    row = await as_admin(request, work)
    _wake_scheduler(request)
    _notify_logs(request)
    return _metadata_response(row)


ONE = PREFIX + "/{pipeline_id}"
routes = [
    resource(PREFIX, {"GET": list_pipelines, "POST": create_pipeline}),
    resource(PREFIX + "/validate", {"POST": validate_new}),
    resource(ONE, {"GET": get_pipeline, "DELETE": archive_pipeline}),
    resource(ONE + "/definition", {"GET": get_definition, "PUT": replace_definition}),
    resource(ONE + "/definition/validate", {"POST": validate_replacement}),
    resource(ONE + "/start", {"POST": start_pipeline}),
    resource(ONE + "/stop", {"POST": stop_pipeline}),
]
