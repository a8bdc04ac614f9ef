"""/api/public/v1/pipelines: definitions (YAML or JSON), revisions, and the run controls.

Order of checks on every route: 413 (the body cap, `http/body_limit.py`) and a JSON body
nested too deeply (400), before anything else; then 401/403 (the key), 404 (the pipeline,
before anything else about the body), 415 and undecodable bodies, 412 (If-Match), then the
definition's own 400/422. A route first applies the simulation steps already due for its
pipeline, so it always answers with the state the pipeline has at this instant.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from console.definition import dump_json, dump_yaml, validate_text
from console.sandbox.http.auth import Principal
from console.sandbox.http.errors import ApiError, conflict, invalid, not_found, validation_failed
from console.sandbox.http.pagination import parse_numbered_page
from console.sandbox.http.payload import check_json_depth
from console.sandbox.http.responses import json_response
from console.sandbox.http.routing import as_admin, resource
from console.sandbox.pipelines import runs as pipeline_runs
from console.sandbox.pipelines import store as pipelines
from console.sandbox.pipelines.scheduler import PipelineScheduler
from console.sandbox.pipelines.store import DefinitionFormat, SubmittedDefinition
from console.sandbox.settings import PipelineTiming
from console.sandbox.storage.sqlite import now

PREFIX = "/api/public/v1/pipelines"
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


def _current(
    conn: sqlite3.Connection, principal: Principal, request: Request, at: float
) -> sqlite3.Row:
    """The addressed pipeline of the caller's account, with its due steps applied (or 404)."""
    text = request.path_params["pipeline_id"]
    # At most 18 ASCII digits: anything else cannot be an id (and must not overflow SQLite).
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise not_found("Pipeline")
    pipeline_id = int(text)
    row = pipelines.find_pipeline(conn, principal.account_id, pipeline_id)
    if pipeline_runs.advance(conn, _timing(request), at, pipeline_id=pipeline_id):
        row = pipelines.find_pipeline(conn, principal.account_id, pipeline_id)
    return row


def _document_in_sent_order(row: sqlite3.Row) -> dict[str, Any]:
    """The stored document with its keys in the order they were sent (canonical: sorted)."""
    parsed = validate_text(str(row["definition_text"]), format=row["definition_format"])
    if parsed.document is not None:
        return parsed.document
    document: dict[str, Any] = json.loads(row["definition_json"])
    return document


def _metadata_response(row: sqlite3.Row, status: int = 200) -> Response:
    response = json_response(pipelines.pipeline_metadata(row), status=status)
    response.headers["ETag"] = etag(int(row["revision"]))
    return response


async def list_pipelines(request: Request) -> Response:
    """GET /pipelines: one page of the account's pipelines, newest first."""

    def work(conn: sqlite3.Connection, principal: Principal) -> dict[str, Any]:
        page = parse_numbered_page(request.query_params)
        include_archived = _flag(request.query_params, "include_archived")
        pipeline_runs.advance(conn, _timing(request), now(), account_id=principal.account_id)
        return pipelines.list_pipelines(
            conn, principal.account_id, page, include_archived=include_archived
        )

    return json_response(await as_admin(request, work))


async def create_pipeline(request: Request) -> Response:
    """POST /pipelines: a new draft pipeline at revision 1."""
    body = await read_definition(request)

    def work(conn: sqlite3.Connection, principal: Principal) -> sqlite3.Row:
        submitted = body.definition()
        catalog = pipelines.catalog_of(conn, principal.account_id)
        accepted = pipelines.check_definition(submitted, catalog)
        pipeline_id = pipelines.insert_pipeline(conn, principal.account_id, accepted, at=now())
        return pipelines.find_pipeline(conn, principal.account_id, pipeline_id)

    row = await as_admin(request, work)
    response = _metadata_response(row, status=201)
    response.headers["Location"] = f"{PREFIX}/{row['id']}"
    return response


async def validate_new(request: Request) -> Response:
    """POST /pipelines/validate: the checks of create, nothing stored."""
    body = await read_definition(request)

    def work(conn: sqlite3.Connection, principal: Principal) -> None:
        catalog = pipelines.catalog_of(conn, principal.account_id)
        pipelines.check_definition(body.definition(), catalog)

    await as_admin(request, work)
    return json_response({"valid": True})


async def get_pipeline(request: Request) -> Response:
    """GET /pipelines/{id}: the pipeline's metadata."""

    def work(conn: sqlite3.Connection, principal: Principal) -> sqlite3.Row:
        return _current(conn, principal, request, now())

    return _metadata_response(await as_admin(request, work))


async def archive_pipeline(request: Request) -> Response:
    """DELETE /pipelines/{id}: archive (a deployed pipeline is torn down first)."""

    def work(conn: sqlite3.Connection, principal: Principal) -> sqlite3.Row:
        at = now()
        row = _current(conn, principal, request, at)
        pipeline_runs.archive(conn, row, at)
        return pipelines.find_pipeline(conn, principal.account_id, int(row["id"]))

    return _metadata_response(await as_admin(request, work))


async def get_definition(request: Request) -> Response:
    """GET /pipelines/{id}/definition: YAML or JSON by Accept (JSON by default), with ETag."""
    wanted = preferred_format(request.headers.get("accept"))

    def work(conn: sqlite3.Connection, principal: Principal) -> tuple[str, int]:
        row = _current(conn, principal, request, now())
        if row["definition_format"] == wanted:
            text = str(row["definition_text"])  # as sent: comments and key order kept
        else:
            document = _document_in_sent_order(row)
            text = dump_yaml(document) if wanted == "yaml" else dump_json(document)
        return text, int(row["revision"])

    text, revision = await as_admin(request, work)
    return Response(
        text,
        media_type=MEDIA_TYPE_OF[wanted],
        headers={"ETag": etag(revision), "Vary": "Accept"},
    )


async def replace_definition(request: Request) -> Response:
    """PUT /pipelines/{id}/definition: apply a new revision; the same document is a no-op."""
    body = await read_definition(request)
    if_match = request.headers.get("if-match")

    def work(conn: sqlite3.Connection, principal: Principal) -> sqlite3.Row:
        at = now()
        row = _current(conn, principal, request, at)
        submitted = body.definition()
        revision = int(row["revision"])
        if not if_match_allows(if_match, revision):
            raise ApiError.single(
                412,
                "PRECONDITION_FAILED",
                f"The pipeline is at revision {revision}, not the one If-Match names "
                f"({if_match}); fetch the current definition and apply your change to it.",
            )
        if row["status"] == "archived":
            # Whatever the body says, nothing can be applied: say that first.
            raise conflict("The pipeline is archived; its definition can no longer change.")
        accepted = pipelines.check_definition(
            submitted, pipelines.catalog_of(conn, principal.account_id)
        )
        pipelines.replace_definition(conn, row, accepted, at=at)
        return pipelines.find_pipeline(conn, principal.account_id, int(row["id"]))

    return _metadata_response(await as_admin(request, work))


async def validate_replacement(request: Request) -> Response:
    """POST /pipelines/{id}/definition/validate: the checks of replace, nothing stored."""
    body = await read_definition(request)

    def work(conn: sqlite3.Connection, principal: Principal) -> None:
        _current(conn, principal, request, now())
        catalog = pipelines.catalog_of(conn, principal.account_id)
        pipelines.check_definition(body.definition(), catalog)

    await as_admin(request, work)
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
    return _metadata_response(row)


async def stop_pipeline(request: Request) -> Response:
    """POST /pipelines/{id}/stop[?force=true]: stop gracefully (409 during a sync) or by force."""

    def work(conn: sqlite3.Connection, principal: Principal) -> sqlite3.Row:
        at = now()
        row = _current(conn, principal, request, at)
        force = _flag(request.query_params, "force")
        pipeline_runs.stop(conn, row, _timing(request), at, force=force)
        return pipelines.find_pipeline(conn, principal.account_id, int(row["id"]))

    row = await as_admin(request, work)
    _wake_scheduler(request)
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
