"""Request bodies: content type (415), JSON syntax (400) and shape (422) checks.

Problems are kept, not raised, until the route has authenticated the caller: an
unauthenticated request learns only that it needs a key (401). The one exception is a body
nested deeper than `MAX_JSON_DEPTH`: like an oversized body (413, `body_limit.py`) it is a
limit on the request rather than a question about its content, and it is refused before any
parser recurses into it.

Strict JSON: no `NaN`/`Infinity`, no integer over `MAX_INT_DIGITS` digits, no lone UTF-16
surrogate in a key or a string (it has no UTF-8 form, so nothing could store or echo it),
and no number too large to be finite where a number is expected.
"""

from __future__ import annotations

import json
import math
import re
import sys
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from starlette.requests import Request

from console.sandbox.http.errors import ApiError, Problem

_TYPE_NAMES = {"string": "a string", "integer": "an integer", "number": "a finite number"}

# Arrays and objects may nest this deep (the root is level 1). Real bodies use a handful.
MAX_JSON_DEPTH = 64
# Python's own limit for int() of a decimal string (sys.get_int_max_str_digits()).
MAX_INT_DIGITS = 4300
# A field name or key echoed in an error is cut to this many characters.
MAX_SHOWN_KEY = 100
_LARGEST_FLOAT = int(sys.float_info.max)

_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_AS_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS_OR_QUOTES = bytes(byte for byte in range(256) if byte not in b'[]{}"')
_AS_STEPS = bytes.maketrans(b"[]", b"\x01\xff")  # +1 and -1 as signed bytes
# A \u escape of a UTF-16 surrogate: the only way a JSON text can carry a lone one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


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


def is_json_media_type(content_type: str) -> bool:
    """Whether a Content-Type names JSON (`application/json` or `application/*+json`)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def unsupported_media_type(content_type: str | None) -> ApiError:
    """The 415 for a body sent without a Content-Type, or with one that is not JSON."""
    if content_type is None:
        return ApiError.single(
            415, "UNSUPPORTED_MEDIA_TYPE", "Send the body with Content-Type: application/json."
        )
    return ApiError.single(
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        f"Content-Type {content_type!r} is not supported; send application/json.",
    )


def _has_type(value: Any, type_name: str) -> bool:
    # bool is an int subclass in Python, but true is not a number in JSON.
    if isinstance(value, bool):
        return False
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "integer":
        return isinstance(value, int)
    # 1e400 parses to inf and 10**400 has no float: neither could be stored or served.
    if isinstance(value, int):
        return abs(value) <= _LARGEST_FLOAT
    return isinstance(value, float) and math.isfinite(value)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _nesting_exceeds(brackets: bytes, limit: int) -> bool:
    """Whether a text of `[` and `]` nests deeper than `limit`, without recursion.

    Each pass drops every empty pair, which lowers the deepest point by exactly one level
    where the brackets balance and by at most one where they do not; what the passes leave
    is measured by a run of openers or a running sum. So the answer is exact for well-formed
    JSON, and malformed JSON never passes if a parser could recurse into it deeper.
    """
    passes = 0
    while brackets and passes <= limit:
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) * 2 > len(brackets):
            break  # mostly long chains: the running sum below is cheaper than more passes
        brackets = shorter
        passes += 1
    if not brackets:
        return passes > limit
    allowed = limit - passes
    if b"[" * (allowed + 1) in brackets:
        return True  # a run of openers alone goes too deep: the usual attack, found in C
    deepest = max(accumulate(array("b", brackets.translate(_AS_STEPS))))
    return deepest > allowed


def check_json_depth(raw: bytes, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise 400 INVALID_PAYLOAD when a JSON text nests arrays and objects deeper than
    `limit`: byte operations and one running sum, never a recursion (the worst 1 MiB costs
    about what json.loads of a real 1 MiB body does)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return
    original = raw
    if b"\\" not in raw:
        # Without escapes every quote opens or closes a string. Keep brackets and quotes
        # only: a string without brackets becomes "", and once those are dropped no quote
        # is left exactly when no string holds a bracket; what is left is then the
        # brackets outside strings (the usual body, found without splitting it up).
        shapes = raw.translate(None, _NOT_BRACKETS_OR_QUOTES).replace(b'""', b"")
        if b'"' not in shapes:
            brackets = shapes.translate(_AS_SQUARE)
            if len(brackets) > limit and _nesting_exceeds(brackets, limit):
                raise _too_deep(original, limit)
            return
    if b"\\" in raw:
        # Drop escaped backslashes, then escaped quotes: every quote left opens or closes
        # a string (outside strings a backslash is a syntax error the parser reports).
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Even pieces lie outside strings (an unterminated last string swallows the rest).
    outside = b"".join(raw.split(b'"')[0::2])
    brackets = outside.translate(_AS_SQUARE, _NOT_BRACKETS)
    if len(brackets) > limit and _nesting_exceeds(brackets, limit):
        raise _too_deep(original, limit)


def _too_deep(raw: bytes, limit: int) -> ApiError:
    return ApiError.single(
        400,
        "INVALID_PAYLOAD",
        f"{_position_past_depth(raw, limit)}The body nests arrays and objects more than "
        f"{limit} levels deep.",
    )


# A JSON string (escapes included) or one bracket: strings are skipped inside the regex engine.
_STRING_OR_BRACKET = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def _position_past_depth(raw: bytes, limit: int) -> str:
    """`line L, column C: ` of the first bracket past `limit` levels, as the definition
    parser says it, or "" when the scan finds none (malformed text).

    Runs only on the refusal path, and stops at that bracket.
    """
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                offset = match.start()
                line = raw.count(b"\n", 0, offset) + 1
                column = (
                    len(raw[raw.rfind(b"\n", 0, offset) + 1 : offset].decode("utf-8", "replace"))
                    + 1
                )
                return f"line {line}, column {column}: "
        elif token in (b"]", b"}"):
            depth -= 1
    return ""


class _OversizedInt:
    """Stands in, while parsing, for an integer literal with too many digits."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


def shown_key(key: str) -> str:
    """A client-sent key or value as an error may echo it (an object key, an If-Match): lone
    surrogates as \\u escapes, at most 100 characters."""
    if len(key) > MAX_SHOWN_KEY:
        key = key[:MAX_SHOWN_KEY] + "…"
    return key.encode("utf-8", "backslashreplace").decode("utf-8")


def _join(path: str, key: str) -> str:
    shown = shown_key(key)
    return f"{path}.{shown}" if path else shown


def _text_problems(document: Any) -> list[Problem]:
    """400 problems for lone surrogates and oversized integers, each naming its field.

    Walks the parsed document with a stack (its depth is already bounded, but no
    recursion on user data all the same), front to back.
    """
    problems: list[Problem] = []
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            children = []
            for key, item in value.items():
                child = _join(path, key)
                if _LONE_SURROGATE.search(key):
                    problems.append(
                        Problem(
                            "INVALID_PAYLOAD",
                            f"The key {child} holds a lone UTF-16 surrogate, which is not text.",
                            child,
                        )
                    )
                children.append((child, item))
            stack.extend(reversed(children))
        elif isinstance(value, list):
            items = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
            stack.extend(reversed(items))
        elif isinstance(value, str) and _LONE_SURROGATE.search(value):
            problems.append(
                Problem(
                    "INVALID_PAYLOAD",
                    f"{path or 'The body'} holds a lone UTF-16 surrogate, which is not text; "
                    "send the character itself or a complete \\u surrogate pair.",
                    path or None,
                )
            )
        elif isinstance(value, _OversizedInt):
            problems.append(
                Problem(
                    "INVALID_PAYLOAD",
                    f"{path or 'The body'} is an integer of {value.digits:,} digits; "
                    f"at most {MAX_INT_DIGITS:,} are accepted.",
                    path or None,
                )
            )
    return problems


def parse_json(raw: bytes) -> Any:
    """Parse a body strictly; raise 400 INVALID_PAYLOAD with the position or the field.

    The caller has checked the depth (`check_json_depth`): json's parser recurses.
    """
    oversized: list[int] = []

    def parse_int(text: str) -> int | _OversizedInt:
        digits = len(text) - text.startswith("-")
        if digits <= MAX_INT_DIGITS:
            return int(text)
        oversized.append(digits)
        return _OversizedInt(digits)

    try:
        document = json.loads(
            raw.decode("utf-8"), parse_constant=_reject_constant, parse_int=parse_int
        )
    except UnicodeDecodeError as exc:
        message = f"The body is not UTF-8 (byte {exc.start})."
    except json.JSONDecodeError as exc:
        message = f"The body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
    except ValueError as exc:
        message = f"The body is not valid JSON: {exc}."
    else:
        # Only a \\u escape can make a lone surrogate (strict UTF-8 decoding refuses the
        # bytes), so a clean text skips the walk.
        if oversized or _SURROGATE_ESCAPE.search(raw):
            problems = _text_problems(document)
            if problems:
                raise ApiError(400, problems)
        return document
    raise ApiError.single(400, "INVALID_PAYLOAD", message)


def check_shape(body: Any, spec: Sequence[FieldSpec]) -> dict[str, Any]:
    """Check an object body against `spec`; raise 422 listing every unknown, missing or
    mistyped key. Optional keys sent as null count as absent."""
    if not isinstance(body, dict):
        raise ApiError.single(422, "UNPROCESSABLE", "The body must be a JSON object.")
    known = {field.name: field for field in spec}
    problems = [
        Problem("UNPROCESSABLE", f"Unknown key {shown_key(key)!r}.", shown_key(key))
        for key in body
        if key not in known
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


async def read_body(
    request: Request, check: Callable[[bytes, Any], dict[str, Any]], *, required: bool = False
) -> Payload:
    """Read a JSON body and `check(raw, document)` it into the route's fields; its 415, 400
    and 422 wait in the Payload until the caller is authenticated.

    An empty body is `{}`, or 422 when the body is `required`. A JSON body nested too deeply
    raises its 400 at once, before authentication.
    """
    raw = await request.body()
    content_type = request.headers.get("content-type")
    if content_type is not None and is_json_media_type(content_type):
        check_json_depth(raw)
    try:
        if content_type is not None and not is_json_media_type(content_type):
            raise unsupported_media_type(content_type)
        if not raw.strip():
            if required:
                raise ApiError.single(422, "UNPROCESSABLE", "The body must be a JSON object.")
            return Payload(check(raw, {}))
        if content_type is None:
            raise unsupported_media_type(None)
        return Payload(check(raw, parse_json(raw)))
    except ApiError as error:
        return Payload({}, error)


async def read_payload(request: Request, spec: Sequence[FieldSpec]) -> Payload:
    """Read and check a JSON object body; an empty body counts as `{}`.

    A JSON body nested too deeply raises its 400 at once, before authentication.
    """
    return await read_body(request, lambda _raw, document: check_shape(document, spec))


# A number literal that may overflow to inf: an exponent of 3+ digits, or 309+ digits, as
# the bytes regex rb"[eE][+-]?\d{3}|\d{309}" finds them. `may_hold_huge_number` finds the
# same with one translate and substring searches: the regex tries both branches at every
# byte, ~50 ms on a 1 MiB body of small records, half of a bulk intent's parse.
_NUMBER_SHAPES = bytes.maketrans(b"0123456789eE+-", b"0000000000ee++").translate(
    bytes(byte if byte in b"0123456789eE+-" else ord(".") for byte in range(256))
)
_HUGE_DIGITS = b"0" * 309


def may_hold_huge_number(raw: bytes) -> bool:
    r"""Whether `raw` holds `[eE][+-]?\d{3}` or `\d{309}` (ASCII digits): a literal that
    may parse to inf."""
    shapes = raw.translate(_NUMBER_SHAPES)
    return b"e000" in shapes or b"e+000" in shapes or _HUGE_DIGITS in shapes


def non_finite_problems(raw: bytes, document: Any) -> list[Problem]:
    """400 problems for numbers too large to be finite (`1e400` parses to inf), each naming
    its field: such a value cannot be stored as JSON, so a route that keeps data refuses it.

    Walks with a stack, front to back (no recursion on user data), only when `raw` holds a
    literal that could overflow."""
    problems: list[Problem] = []
    if not may_hold_huge_number(raw):
        return problems
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(reversed([(_join(path, key), item) for key, item in value.items()]))
        elif isinstance(value, list):
            stack.extend(reversed([(f"{path}[{i}]", item) for i, item in enumerate(value)]))
        elif isinstance(value, float) and not math.isfinite(value):
            shown = path or "The body"
            problems.append(
                Problem(
                    "INVALID_PAYLOAD", f"{shown} is a number too large to be finite.", path or None
                )
            )
    return problems
