"""Schemathesis hooks of the conformance run (tests/sandbox/test_schemathesis.py).

Loaded by the schemathesis CLI through SCHEMATHESIS_HOOKS; not a test module.

- Auth: every key is a fresh admin key of the run's account, minted on the data dir (for
  the /ingest routes: of the account that owns the feed they run on). The
  run revokes and rotates keys it finds (DELETE /keys/{id}, rotate with grace 0), including
  the one it is using; after such a 401 schemathesis asks for a new key.
- Known failures that are not conformance bugs of this document are dropped, each by a
  narrow predicate on the failing request and response (see `filter_failure`).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import schemathesis

from console.sandbox.intents.openapi import BODY_SCHEMAS
from console.sandbox.storage.sqlite import mint_key

_DEFINITION_OPERATIONS = {
    "POST /api/public/v1/pipelines",
    "POST /api/public/v1/pipelines/validate",
    "PUT /api/public/v1/pipelines/{pipeline_id}/definition",
    "POST /api/public/v1/pipelines/{pipeline_id}/definition/validate",
}
# Rules of POST /keys that depend on server state, so no schema can state them: `feed` must
# name an existing feed of the account, `expires_at` must be after the request arrives.
_STATEFUL_KEY_FIELDS = {"feed", "expires_at"}
_RECORDS = "/api/public/v1/feeds/{feed_id}/records"
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class _FreshKey:
    """A new admin key of the account named by environment variable `ACCOUNT_VARIABLE`
    whenever schemathesis asks."""

    ACCOUNT_VARIABLE = "CONFORMANCE_ACCOUNT"

    def get(self, case: Any, ctx: Any) -> str:
        return mint_key(
            Path(os.environ["CONFORMANCE_DATA"]),
            account=os.environ[self.ACCOUNT_VARIABLE],
            kind="admin",
            name="schemathesis",
        )

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schemathesis.auth().skip_for(path_regex="^/ingest/")
class FreshAdminKey(_FreshKey):
    """Keys of the conformance account (which has no feeds) for every other route."""


@schemathesis.auth().apply_to(path_regex="^/ingest/")
class FreshIngestAccountKey(_FreshKey):
    """Keys of the account that owns the ingest routes' feed, for the ingest routes only:
    its feed must not make the other feed routes' cases reach their logic."""

    ACCOUNT_VARIABLE = "CONFORMANCE_INGEST_ACCOUNT"


def _value_at(document: Any, path: str | None) -> Any:
    """The value an error's `field` path (`tables[1].name`) names in the request body."""
    if path is None:
        return None
    value = document
    for name, index in _PATH_PART.findall(path):
        try:
            value = value[int(index)] if index else value[name]
        except (KeyError, IndexError, TypeError, ValueError):
            return None
    return value


def _problems(response: Any) -> list[dict[str, Any]]:
    try:
        problems = json.loads(response.content)["errors"]
    except (ValueError, KeyError, TypeError):
        return []
    return problems if isinstance(problems, list) else []


def _is_integral_float(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


def _ingest_known(case: Any, status: int, problems: list[dict[str, Any]]) -> bool:
    """Known rejections of schema-valid ingest requests.

    - The generic route's body is the one its `intent` names; the document can only give
      their union, so a body of another intent is 400 (checked against that intent's schema).
    - JSON Schema counts 9069.0 as an integer id; the server's reader does not (the id
      rules are the records store's, docs/api.md, Intents).
    - POST /api/ingest with an X-Item-Key: every item must carry that field, which the
      body's schema (the feed's id field) cannot state.
    """
    if status != 400 or not all(problem.get("code") == "INVALID_PAYLOAD" for problem in problems):
        return False
    item_key = next(
        (value for name, value in (case.headers or {}).items() if name.lower() == "x-item-key"),
        None,
    )
    if item_key is not None and all(
        str(problem.get("field")) == item_key or str(problem.get("field")).endswith("." + item_key)
        for problem in problems
    ):
        return True
    intent = (case.path_parameters or {}).get("intent")
    generic = case.operation.path.endswith("/intent/{intent}") and intent in BODY_SCHEMAS
    if generic and not jsonschema_rs.validator_for(BODY_SCHEMAS[intent]).is_valid(case.body):
        return True
    return all(
        _is_integral_float(_value_at(case.body, problem.get("field"))) for problem in problems
    )


def _replayed(failure: Any, case: Any, response: Any) -> bool:
    """A schema-violating POST /api/ingest answered 202 as the replay of an Idempotency-Key
    the run used before: a replay is answered before its body is read (docs/api.md,
    Stream ingestion, D3/D4), so its body, valid or not, is never looked at."""
    return (
        getattr(failure, "code", None) == "ST201"
        and f"{case.method.upper()} {case.operation.path}" == "POST /api/ingest"
        and response.status_code == 202
        and response.headers.get("idempotent-replayed") == ["true"]
    )


def _known(failure: Any, case: Any, response: Any) -> bool:
    """Whether a failure is one of the known, explained ones listed in the test module."""
    if _replayed(failure, case, response):
        return True
    if getattr(failure, "code", None) != "ST202":  # "Schema-valid request rejected"
        return False
    operation = f"{case.method.upper()} {case.operation.path}"
    status = response.status_code
    problems = _problems(response)
    if not problems:
        return False
    if operation.startswith("POST /ingest/") or operation == "POST /api/ingest":
        return _ingest_known(case, status, problems)
    body = case.body if isinstance(case.body, dict) else {}

    def integral_float(problem: dict[str, Any]) -> bool:
        # JSON Schema counts 9069.0 as an integer; the server's JSON reader
        # (http/payload.py) and the definition validator (console/definition) answer 422.
        # Those parts own that rule, not this document.
        return problem.get("code") == "UNPROCESSABLE" and _is_integral_float(
            _value_at(body, problem.get("field"))
        )

    if operation in _DEFINITION_OPERATIONS and status in (400, 422):
        # Rules of a definition no schema can state (the account's own connection and hook
        # ids, unique tables, a transformation's table, frequency ranges): 400
        # VALIDATION_FAILED by contract; listed beside any shape problem.
        return all(
            problem.get("code") == "VALIDATION_FAILED" or integral_float(problem)
            for problem in problems
        )
    if operation.startswith("PUT ") and status == 412:
        # A stale or foreign If-Match: 412 comes before the body is read (docs/api.md).
        return any(name.lower() == "if-match" for name in (case.headers or {}))
    if operation == "POST /api/public/v1/feeds/{feed_id}/imports" and status == 400:
        # What an uploaded file must hold (a usable CSV header: docs/api.md, Imports), and
        # a start_row at most one past its last data row, are rules on the file's content,
        # which a multipart schema cannot state.
        return all(
            problem.get("code") == "VALIDATION_FAILED"
            and problem.get("field") in ("file", "start_row")
            for problem in problems
        )
    if operation == "POST /api/public/v1/keys" and status == 400:
        return {problem.get("field") for problem in problems} <= _STATEFUL_KEY_FIELDS
    if operation == f"GET {_RECORDS}" and status == 400:
        # Record list cursors are signed (records/query.py): no pattern can state which
        # strings this server issued, so a generated one is refused, field `cursor`. And
        # `q`'s prefix words (`word*`) are bounded in number and length (docs/api.md,
        # Records), a rule on the words of a text that its schema does not spell out.
        return all(
            problem.get("field") == "cursor"
            or (problem.get("field") == "q" and "prefix" in str(problem.get("message")))
            for problem in problems
        )
    if operation == "GET /api/public/v1/logs" and status == 400:
        # Log list cursors are signed too (logs/query.py).
        return all(problem.get("field") == "cursor" for problem in problems)
    if operation in (f"POST {_RECORDS}", f"PATCH {_RECORDS}/{{guid}}") and status == 400:
        # Rules tying system_id to the feed's id field in data (they must agree; a record
        # keeps its system id): the id field's name is the feed's, so no schema states them.
        return all(
            problem.get("code") == "VALIDATION_FAILED"
            and (
                problem.get("field") == "system_id" or str(problem.get("field")).startswith("data.")
            )
            for problem in problems
        )
    if status == 422:
        return all(integral_float(problem) for problem in problems)
    return False


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure except the known, explained ones (`_known`)."""
    return not _known(failure, case, response)
