"""Request bodies: content type (415), JSON syntax (400) and shape (422) checks.

Problems are kept, not raised, until the route has authenticated the caller: an
unauthenticated request learns only that it needs a key (401).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from console.sandbox.http.errors import ApiError, Problem

_TYPE_NAMES = {"string": "a string", "integer": "an integer", "number": "a number"}


@dataclass(frozen=True)
class FieldSpec:
    """One allowed key of a JSON object body."""

    name: str
    type: str  # "string", "integer" or "number"
    required: bool = False


@dataclass(frozen=True)
class Payload:
    """A parsed body, or the error it must produce once the caller is authenticated."""

    data: dict[str, Any]
    error: ApiError | None = None

    def values(self) -> dict[str, Any]:
        """The body's fields (absent and null optional fields left out); raise its error."""
        if self.error is not None:
            raise self.error
        return self.data


def _is_json_media_type(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _has_type(value: Any, type_name: str) -> bool:
    # bool is an int subclass in Python, but true is not a number in JSON.
    if isinstance(value, bool):
        return False
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "integer":
        return isinstance(value, int)
    # 1e400 parses to inf, which no JSON response could carry back.
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> Any:
    """Parse a body strictly (no NaN/Infinity); raise 400 INVALID_PAYLOAD with the position."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        message = f"The body is not UTF-8 (byte {exc.start})."
    except json.JSONDecodeError as exc:
        message = f"The body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
    except ValueError as exc:
        message = f"The body is not valid JSON: {exc}."
    raise ApiError.single(400, "INVALID_PAYLOAD", message)


def check_shape(body: Any, spec: Sequence[FieldSpec]) -> dict[str, Any]:
    """Check an object body against `spec`; raise 422 listing every unknown, missing or
    mistyped key. Optional keys sent as null count as absent."""
    if not isinstance(body, dict):
        raise ApiError.single(422, "UNPROCESSABLE", "The body must be a JSON object.")
    known = {field.name: field for field in spec}
    problems = [
        Problem("UNPROCESSABLE", f"Unknown key {key!r}.", key) for key in body if key not in known
    ]
    values: dict[str, Any] = {}
    for field in spec:
        value = body.get(field.name)
        if value is None:
            if field.required:
                problems.append(Problem("UNPROCESSABLE", f"{field.name} is required.", field.name))
            continue
        if not _has_type(value, field.type):
            problems.append(
                Problem(
                    "UNPROCESSABLE",
                    f"{field.name} must be {_TYPE_NAMES[field.type]}.",
                    field.name,
                )
            )
            continue
        values[field.name] = value
    if problems:
        raise ApiError(422, problems)
    return values


async def read_payload(request: Request, spec: Sequence[FieldSpec]) -> Payload:
    """Read and check a JSON object body; an empty body counts as `{}`."""
    raw = await request.body()
    content_type = request.headers.get("content-type")
    try:
        if content_type is not None and not _is_json_media_type(content_type):
            raise ApiError.single(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                f"Content-Type {content_type!r} is not supported; send application/json.",
            )
        if not raw.strip():
            return Payload(check_shape({}, spec))
        if content_type is None:
            raise ApiError.single(
                415, "UNSUPPORTED_MEDIA_TYPE", "Send the body with Content-Type: application/json."
            )
        return Payload(check_shape(parse_json(raw), spec))
    except ApiError as error:
        return Payload({}, error)
