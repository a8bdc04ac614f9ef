"""Bounded bodies: the 1 MiB cap as the body arrives, strict JSON, depth, text, short errors.

Every test runs against the real sandbox child process; the memory test starts its own so
that its peak RSS belongs to nobody else's requests.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import h11
import httpx
import pytest
import uvicorn
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from console.sandbox.http.errors import ApiError
from console.sandbox.http.payload import MAX_JSON_DEPTH, check_json_depth
from console.sandbox.http.responses import json_response
from console.sandbox.http.routing import resource
from console.sandbox.process import SandboxProcess
from console.sandbox.server import create_app
from console.sandbox.storage.sqlite import mint_key
from tests.conftest import SUITE_RATE_LIMIT
from tests.sandbox.pipeline_support import PIPELINES, catalog_of, create_pipeline, definition

KEYS = "/api/public/v1/keys"
CAP = 1_048_576
MIB = 1024 * 1024

# Every route that reads a body; the pipeline routes parse it as a definition.
BODY_ROUTES = {
    "create-key": ("POST", KEYS),
    "rotate-key": ("POST", KEYS + "/{key_id}/rotate"),
    "create-feed": ("POST", "/api/public/v1/feeds"),
    "create-pipeline": ("POST", PIPELINES),
    "validate-pipeline": ("POST", PIPELINES + "/validate"),
    "replace-definition": ("PUT", PIPELINES + "/{pipeline_id}/definition"),
    "validate-definition": ("POST", PIPELINES + "/{pipeline_id}/definition/validate"),
}
PAYLOAD_ROUTES = ("create-key", "rotate-key", "create-feed")
DEFINITION_ROUTES = tuple(name for name in BODY_ROUTES if name not in PAYLOAD_ROUTES)
# Routes that never read a body: the cap holds there too.
OTHER_ROUTES = {
    "unknown-path": ("POST", "/api/public/v1/no-such-route"),
    "outside-the-api": ("PUT", "/nothing-here"),
    "list-keys": ("GET", KEYS),
}
# A JSON field of each payload route, to hang a bad value on.
FIELD_OF = {"create-key": "expires_at", "rotate-key": "grace_seconds", "create-feed": "id_field"}


@dataclass(frozen=True)
class Owner:
    """An account with a key and a pipeline, so every route's path exists."""

    base_url: str
    secret: str
    key_id: str
    pipeline_id: int

    def path(self, template: str) -> str:
        """A route template with this account's ids filled in."""
        return template.format(key_id=self.key_id, pipeline_id=self.pipeline_id)


@pytest.fixture(scope="module")
def owner(sandbox: SandboxProcess) -> Owner:
    """One account for the module's many requests."""
    assert sandbox.base_url is not None
    secret = mint_key(sandbox.data_dir, account=f"acct-{uuid.uuid4().hex[:12]}", kind="admin")
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=sandbox.base_url, headers=headers, timeout=30) as api:
        # A key of its own to rotate: a rotation with grace 0 ends the rotated key at once.
        key_id = api.post(KEYS, json={"name": "rotated", "kind": "admin"}).json()["id"]
        pipeline_id = create_pipeline(api, definition(catalog_of(api)))["id"]
    return Owner(sandbox.base_url, secret, key_id, pipeline_id)


@pytest.fixture
def http(owner: Owner) -> Iterator[httpx.Client]:
    """A client without credentials (each request says whether it sends the key)."""
    with httpx.Client(base_url=owner.base_url, timeout=60) as client:
        yield client


def strict_json(text: bytes) -> Any:
    """Parse a response as strict JSON: NaN and Infinity are not JSON."""

    def refuse(constant: str) -> Any:
        raise AssertionError(f"the response holds {constant}")

    return json.loads(text.decode("utf-8"), parse_constant=refuse)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The contract's error body and headers (`errors_omitted` only when problems were cut)."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body: dict[str, Any] = strict_json(response.content)
    assert set(body) - {"errors_omitted"} == {"success", "error", "errors", "correlation_id"}
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert set(body["error"]) == {"code", "message", "field"}
    assert body["errors"][0] == body["error"]
    assert body["correlation_id"] == response.headers["X-Correlation-Id"]
    assert response.headers["X-RateLimit-Limit"].isdigit()
    return body


def send(
    http: httpx.Client,
    owner: Owner,
    route: tuple[str, str],
    body: bytes | Iterator[bytes],
    *,
    key: bool = True,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One request to `route` (a generator body goes chunked, without Content-Length)."""
    method, template = route
    sent = {"Content-Type": content_type, **(headers or {})}
    if key:
        sent["Authorization"] = f"Bearer {owner.secret}"
    return http.request(method, owner.path(template), content=body, headers=sent)


def chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """`body` in pieces, so httpx sends it chunked."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def nested(depth: int) -> bytes:
    """A JSON object nested `depth` levels deep (the root is level 1)."""
    return b'{"x":' * depth + b"0" + b"}" * depth


def padded(size: int) -> bytes:
    """A valid JSON object of exactly `size` bytes."""
    return b"{}" + b" " * (size - 2)


# --- 1. The body cap -------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("route", [*BODY_ROUTES, *OTHER_ROUTES])
def test_the_cap_is_1_mib_on_every_route(
    http: httpx.Client, owner: Owner, route: str, chunked: bool
) -> None:
    target = {**BODY_ROUTES, **OTHER_ROUTES}[route]
    for key in (True, False):
        exact = padded(CAP)
        fits = send(http, owner, target, chunks(exact) if chunked else exact, key=key)
        assert fits.status_code != 413, fits.text[:300]
        over = padded(CAP + 1)
        refused = send(http, owner, target, chunks(over) if chunked else over, key=key)
        body = assert_error(refused, 413, "PAYLOAD_TOO_LARGE")
        assert "1,048,576 bytes" in body["error"]["message"]


def _connect(base_url: str) -> socket.socket:
    parts = urlsplit(base_url)
    assert parts.hostname is not None
    assert parts.port is not None
    return socket.create_connection((parts.hostname, parts.port), timeout=30)


def _response_of(
    sock: socket.socket, conn: h11.Connection
) -> tuple[h11.Response, dict[str, str], bytes]:
    """Read one whole response from `sock`, whatever the state of our own request."""
    response: h11.Response | None = None
    data = b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(sock.recv(65536))
        elif isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            data += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage):
            assert response is not None
            headers = {name.decode().lower(): value.decode() for name, value in response.headers}
            return response, headers, data


@pytest.mark.parametrize("key", [True, False], ids=["with-key", "without-key"])
def test_a_declared_oversized_body_is_refused_before_a_byte_is_sent(
    owner: Owner, http: httpx.Client, key: bool
) -> None:
    conn = h11.Connection(h11.CLIENT)
    headers = [
        ("Host", "sandbox"),
        ("Content-Type", "application/json"),
        ("Content-Length", str(150 * MIB)),
    ]
    if key:
        headers.append(("Authorization", f"Bearer {owner.secret}"))
    with _connect(owner.base_url) as sock:
        sock.sendall(conn.send(h11.Request(method="POST", target=KEYS, headers=headers)))
        # Not one body byte sent: the answer must come anyway.
        response, response_headers, data = _response_of(sock, conn)
        assert response.status_code == 413
        assert response_headers["connection"] == "close"
        body = strict_json(data)
        assert body["error"]["code"] == "PAYLOAD_TOO_LARGE"
        assert "157,286,400" in body["error"]["message"]
        assert body["correlation_id"] == response_headers["x-correlation-id"]
    assert http.get(KEYS, headers={"Authorization": f"Bearer {owner.secret}"}).status_code == 200


def test_a_chunked_body_is_refused_while_the_client_is_still_sending(
    owner: Owner, http: httpx.Client
) -> None:
    conn = h11.Connection(h11.CLIENT)
    headers = [
        ("Host", "sandbox"),
        ("Content-Type", "application/json"),
        ("Transfer-Encoding", "chunked"),
    ]
    with _connect(owner.base_url) as sock:
        sock.sendall(conn.send(h11.Request(method="POST", target=KEYS, headers=headers)))
        piece = b" " * 65536
        for _ in range(CAP // len(piece) + 2):  # just past the cap, and the body not ended
            sock.sendall(conn.send(h11.Data(data=piece)))
        response, response_headers, data = _response_of(sock, conn)
        assert response.status_code == 413
        assert response_headers["connection"] == "close"
        assert strict_json(data)["error"]["code"] == "PAYLOAD_TOO_LARGE"
        # The server keeps reading (and dropping) what still comes, then closes cleanly.
        for _ in range(16):
            sock.sendall(conn.send(h11.Data(data=piece)))
        sock.sendall(conn.send(h11.EndOfMessage()))
        assert sock.recv(65536) == b""
    assert http.get(KEYS, headers={"Authorization": f"Bearer {owner.secret}"}).status_code == 200


def test_a_connection_whose_refused_body_was_complete_stays_usable(owner: Owner) -> None:
    conn = h11.Connection(h11.CLIENT)
    auth = ("Authorization", f"Bearer {owner.secret}")
    headers = [
        ("Host", "sandbox"),
        ("Content-Type", "application/json"),
        ("Transfer-Encoding", "chunked"),
        auth,
    ]
    with _connect(owner.base_url) as sock:
        request = h11.Request(method="POST", target=KEYS, headers=headers)
        sock.sendall(conn.send(request) + conn.send(h11.Data(data=padded(CAP))))
        # The byte over the cap and the body's end in one segment: the server sees both
        # at once, so the body is complete when it is refused.
        sock.sendall(conn.send(h11.Data(data=b" ")) + conn.send(h11.EndOfMessage()))
        response, response_headers, _ = _response_of(sock, conn)
        assert response.status_code == 413
        # Nothing of the body is left on the wire, so the connection is kept for the next.
        assert response_headers.get("connection") != "close"
        conn.start_next_cycle()
        listing = h11.Request(method="GET", target=KEYS, headers=[("Host", "sandbox"), auth])
        sock.sendall(conn.send(listing) + conn.send(h11.EndOfMessage()))
        response, _, data = _response_of(sock, conn)
        assert response.status_code == 200
        assert strict_json(data)["data"]


def _peak_and_current_rss(pid: int) -> tuple[int, int]:
    """VmHWM and VmRSS of a process, in bytes."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            fields[name] = int(value.split()[0]) * 1024
    return fields["VmHWM"], fields["VmRSS"]


@pytest.mark.slow
def test_150_mib_bodies_are_refused_without_costing_the_server_memory(
    make_sandbox: Callable[..., SandboxProcess],
) -> None:
    server = make_sandbox(demo=False, rate_limit=SUITE_RATE_LIMIT)
    assert server.pid is not None
    assert server.base_url is not None
    secret = mint_key(server.data_dir, account="big", kind="admin")
    size = 150 * MIB
    piece = b" " * (256 * 1024)

    def lazily() -> Iterator[bytes]:  # the test itself never holds the body
        for _ in range(size // len(piece)):
            yield piece

    with httpx.Client(base_url=server.base_url, timeout=120) as http:
        # Warm up with the largest body the server accepts, so the baseline is its
        # steady state, not its start.
        auth = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        for _ in range(3):
            assert http.post(KEYS, content=padded(CAP), headers=auth).status_code == 422
        baseline, _ = _peak_and_current_rss(server.pid)
        for declared in (True, False):
            for key in (True, False):
                headers = {"Content-Type": "application/json"}
                if declared:
                    headers["Content-Length"] = str(size)
                if key:
                    headers["Authorization"] = f"Bearer {secret}"
                started = time.monotonic()
                response = http.post(KEYS, content=lazily(), headers=headers)
                elapsed = time.monotonic() - started
                peak, current = _peak_and_current_rss(server.pid)
                print(
                    f"declared={declared} key={key}: {response.status_code} in {elapsed:.2f} s,"
                    f" peak RSS +{(peak - baseline) / MIB:.1f} MiB, now {current / MIB:.1f} MiB"
                )
                assert peak - baseline < 40 * MIB
                assert_error(response, 413, "PAYLOAD_TOO_LARGE")
        assert http.get(KEYS, headers={"Authorization": f"Bearer {secret}"}).status_code == 200


# --- 2. Strict JSON in and out ---------------------------------------------------------

STRICT_INPUTS = {
    "unparseable": b'{"name": "x",\n "kind": }',
    "not-utf-8": b'{"name": "caf\xe9"}',
    "nan": b'{"name": NaN}',
    "infinity": b'{"name": Infinity}',
    "minus-infinity": b'{"name": -Infinity}',
    "lone-surrogate-value": b'{"name": "\\ud800"}',
    "lone-surrogate-key": b'{"\\udfff": "x"}',
    "lone-surrogate-nested-key": b'{"name": {"a\\ud83d": 1}}',
}


@pytest.mark.parametrize("body", STRICT_INPUTS.values(), ids=STRICT_INPUTS.keys())
@pytest.mark.parametrize("route", BODY_ROUTES)
def test_malformed_json_is_400_invalid_payload_on_every_route(
    http: httpx.Client, owner: Owner, route: str, body: bytes
) -> None:
    response = send(http, owner, BODY_ROUTES[route], body)
    assert_error(response, 400, "INVALID_PAYLOAD")
    # Without a key, the key is all an unauthenticated caller learns about.
    assert_error(send(http, owner, BODY_ROUTES[route], body, key=False), 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"name": "\\ud800", "kind": "admin"}', "name"),
        (b'{"name": "x", "kind": "\\udc00abc"}', "kind"),
        (b'{"name": "x", "kind": "admin", "\\ud800": 1}', "\\ud800"),
        (b'{"name": ["ok", "\\ud800"], "kind": "admin"}', "name[1]"),
        (b'{"name": {"k\\udbff": 1}, "kind": "admin"}', "name.k\\udbff"),
    ],
)
def test_a_lone_surrogate_is_400_naming_the_field(
    http: httpx.Client, owner: Owner, body: bytes, field: str
) -> None:
    response = send(http, owner, BODY_ROUTES["create-key"], body)
    problem = assert_error(response, 400, "INVALID_PAYLOAD")["error"]
    assert problem["field"] == field
    assert "surrogate" in problem["message"]


@pytest.mark.parametrize("route", PAYLOAD_ROUTES)
def test_a_lone_surrogate_names_its_field_on_every_json_route(
    http: httpx.Client, owner: Owner, route: str
) -> None:
    field = FIELD_OF[route]
    in_value = send(http, owner, BODY_ROUTES[route], b'{"%s": "\\ud800"}' % field.encode())
    assert assert_error(in_value, 400, "INVALID_PAYLOAD")["error"]["field"] == field
    in_key = send(http, owner, BODY_ROUTES[route], b'{"%s\\udc01": 1}' % field.encode())
    assert assert_error(in_key, 400, "INVALID_PAYLOAD")["error"]["field"] == field + "\\udc01"


def test_a_valid_surrogate_pair_is_text(http: httpx.Client, owner: Owner) -> None:
    response = send(
        http, owner, BODY_ROUTES["create-key"], b'{"name": "\\ud83d\\ude00", "kind": "admin"}'
    )
    assert response.status_code == 201, response.text
    assert strict_json(response.content)["name"] == "\U0001f600"


TOO_BIG = {(422, "UNPROCESSABLE"), (400, "VALIDATION_FAILED")}  # wrong type, or out of range
TOO_LONG = {(400, "INVALID_PAYLOAD")}


@pytest.mark.parametrize(
    ("literal", "answers"),
    [
        (b"1e400", {(422, "UNPROCESSABLE")}),
        (b"-1e400", {(422, "UNPROCESSABLE")}),
        (b"1" + b"0" * 400, TOO_BIG),  # an integer with no float
        (b"9" * 4301, TOO_LONG),
        (b"-" + b"9" * 100_000, TOO_LONG),
    ],
    ids=["1e400", "-1e400", "10**400", "4301-digits", "100000-digits"],
)
@pytest.mark.parametrize("route", PAYLOAD_ROUTES)
def test_numbers_beyond_a_float_or_4300_digits_are_refused_naming_the_field(
    http: httpx.Client, owner: Owner, route: str, literal: bytes, answers: set[tuple[int, str]]
) -> None:
    field = FIELD_OF[route]
    body = b'{"%s": %s}' % (field.encode(), literal)
    response = send(http, owner, BODY_ROUTES[route], body)
    code = strict_json(response.content)["error"]["code"]
    assert (response.status_code, code) in answers, response.text[:300]
    problems = assert_error(response, response.status_code, code)["errors"]
    assert field in {problem["field"] for problem in problems}


def test_an_integer_of_4300_digits_is_only_out_of_range(http: httpx.Client, owner: Owner) -> None:
    body = b'{"grace_seconds": %s}' % (b"9" * 4300)
    response = send(http, owner, BODY_ROUTES["rotate-key"], body)
    assert assert_error(response, 400, "VALIDATION_FAILED")["error"]["field"] == "grace_seconds"


# --- 3. Deep JSON ----------------------------------------------------------------------

DEEP_INPUTS = {
    "100000-arrays": b"[" * 100_000,
    "5000-objects": nested(5000),
    "deep-inside-a-string-free-text": b'{"name": "[[[[", "kind": '
    + b"[" * 10_000
    + b"]" * 10_000
    + b"}",
}


@pytest.mark.parametrize("key", [True, False], ids=["with-key", "without-key"])
@pytest.mark.parametrize("body", DEEP_INPUTS.values(), ids=DEEP_INPUTS.keys())
@pytest.mark.parametrize("route", BODY_ROUTES)
def test_deep_json_is_400_on_every_route_before_auth(
    http: httpx.Client, owner: Owner, route: str, body: bytes, key: bool
) -> None:
    response = send(http, owner, BODY_ROUTES[route], body, key=key)
    problem = assert_error(response, 400, "INVALID_PAYLOAD")["error"]
    assert "more than 64 levels deep" in problem["message"]


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_64_levels_are_allowed_and_65_are_not(http: httpx.Client, owner: Owner, route: str) -> None:
    allowed = send(http, owner, BODY_ROUTES[route], nested(64))
    assert allowed.status_code in (400, 422), allowed.text[:300]
    assert "levels deep" not in allowed.text  # refused for its content, not its depth
    refused = send(http, owner, BODY_ROUTES[route], nested(65))
    assert (
        "more than 64 levels deep"
        in assert_error(refused, 400, "INVALID_PAYLOAD")["error"]["message"]
    )


def _depth(document: Any) -> int:
    """The nesting depth of a parsed document, iteratively."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, level)
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, level + 1) for item in items)
    return deepest


_JSON_VALUES = st.recursive(
    st.none() | st.integers() | st.text(alphabet='[]{}"\\ab', max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=40,
)


def _wrapped(document: Any, levels: int) -> Any:
    for index in range(levels):
        document = [document] if index % 2 else {"k": document}
    return document


@settings(max_examples=300, deadline=None)
@given(document=_JSON_VALUES, levels=st.integers(min_value=0, max_value=80))
def test_the_depth_check_is_exact_for_json(document: Any, levels: int) -> None:
    document = _wrapped(document, levels)
    raw = json.dumps(document).encode()
    too_deep = _depth(document) > MAX_JSON_DEPTH
    try:
        check_json_depth(raw)
    except ApiError:
        assert too_deep
    else:
        assert not too_deep


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet='[]{}"\\a', max_size=300))
def test_the_depth_check_never_passes_what_a_parser_would_recurse_into(text: str) -> None:
    # Malformed text: whatever passes must not hold more unclosed openers than the limit
    # anywhere a parser could reach (outside strings, before its first error).
    raw = text.encode()
    try:
        check_json_depth(raw, limit=8)
    except ApiError:
        return
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "\\":
            return  # a parser stops here
        elif char in "[{":
            depth += 1
            assert depth <= 8, text
        elif char in "]}":
            depth -= 1
            if depth < 0:
                return  # a parser stops here


@pytest.mark.parametrize(
    "document",
    [
        {"name": "[" * 100, "kind": "admin"},
        {"name": '"' + "[" * 99, "kind": "admin"},  # an escaped quote is no string end
        {"name": "x\\", "kind": "[" * 70},  # nor is the quote after an escaped backslash
        {"name": '\\"' + "{" * 98, "kind": "admin"},
    ],
    ids=["brackets", "escaped-quote", "escaped-backslash", "both"],
)
def test_brackets_inside_strings_do_not_count(
    http: httpx.Client, owner: Owner, document: dict[str, str]
) -> None:
    raw = json.dumps(document).encode()
    response = send(http, owner, BODY_ROUTES["create-key"], raw)
    assert response.status_code in (201, 400), response.text
    assert "levels deep" not in response.text


def test_a_too_deep_body_is_located_in_the_text_as_sent(http: httpx.Client, owner: Owner) -> None:
    """Escaped quotes and backslashes before the nesting do not shift the column."""
    prefix = '["' + '\\"' * 10 + "\\\\" * 5 + '", '
    raw = (prefix + "[" * 70 + "]" * 71).encode()
    response = send(http, owner, BODY_ROUTES["create-key"], raw)
    message = assert_error(response, 400, "INVALID_PAYLOAD")["error"]["message"]
    # The outer array is level 1, so level 65 is the run's 64th bracket (columns 1-based).
    column = raw.index(b"[" * 70) + 64
    assert message.startswith(f"line 1, column {column}: "), (message, column)


# --- 5. Bounded answers ----------------------------------------------------------------


def _unknown_keys(count: int) -> bytes:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"

    def name(number: int) -> str:
        text = ""
        while True:
            number, rest = divmod(number, 36)
            text = digits[rest] + text
            if not number:
                return "z" + text

    return ("{" + ",".join(f'"{name(number)}":0' for number in range(count)) + "}").encode()


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_an_error_body_lists_at_most_100_problems_and_counts_the_rest(
    http: httpx.Client, owner: Owner, route: str
) -> None:
    # 100,000 on the JSON routes; the definition validator takes ~30 µs a key, so its
    # routes get 2,000 (the cap on the answer is the same code).
    count = 100_000 if route in PAYLOAD_ROUTES else 2_000
    body = _unknown_keys(count)
    assert len(body) <= CAP
    response = send(http, owner, BODY_ROUTES[route], body)
    answer = assert_error(response, 422, "UNPROCESSABLE")
    assert len(answer["errors"]) == 100
    assert answer["errors_omitted"] >= count - 100
    assert len(response.content) < 40_000


def test_an_error_body_with_few_problems_has_no_omitted_count(
    http: httpx.Client, owner: Owner
) -> None:
    response = send(http, owner, BODY_ROUTES["create-key"], _unknown_keys(98))
    answer = assert_error(response, 422, "UNPROCESSABLE")
    assert len(answer["errors"]) == 100  # 98 unknown keys, name and kind missing
    assert "errors_omitted" not in answer


# --- Strict JSON out -------------------------------------------------------------------


def test_responses_never_carry_non_finite_numbers_or_lone_surrogates() -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        json_response({"value": math.inf})
    with pytest.raises(ValueError, match="not JSON compliant"):
        json_response({"value": math.nan})
    # Should a lone surrogate ever reach a response, it goes out as a \u escape, not a 500.
    escaped = json_response({"name": "a\ud800"})
    assert escaped.body == b'{"name":"a\\ud800"}'
    assert json_response({"name": "caf\u00e9"}).body == '{"name":"café"}'.encode()


# --- A route with its own, larger, streamed cap ----------------------------------------


@contextlib.contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """Run `app` under uvicorn on an ephemeral loopback port, in a thread; yield its URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped before it started"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def test_a_route_can_declare_a_larger_cap_and_stream_its_body_to_disk(tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    uploads.mkdir()

    async def upload(request: Request) -> Response:
        target = uploads / uuid.uuid4().hex
        size = 0
        try:
            with target.open("wb") as out:
                async for chunk in request.stream():
                    out.write(chunk)
                    size += len(chunk)
        except BaseException:
            target.unlink()
            raise
        return json_response({"bytes": size})

    app = create_app(tmp_path / "data")
    app.router.routes.append(resource("/upload", {"POST": upload}, max_body_bytes=4 * MIB))
    headers = {"Content-Type": "application/octet-stream"}
    with serving(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        for body in (b"x" * (3 * MIB), chunks(b"x" * (3 * MIB))):
            accepted = http.post("/upload", content=body, headers=headers)
            assert accepted.status_code == 200, accepted.text
            assert accepted.json() == {"bytes": 3 * MIB}
        for body in (b"x" * (4 * MIB + 1), chunks(b"x" * (4 * MIB + 1))):
            refused = http.post("/upload", content=body, headers=headers)
            message = assert_error(refused, 413, "PAYLOAD_TOO_LARGE")["error"]["message"]
            assert "4,194,304 bytes" in message
        assert len(list(uploads.iterdir())) == 2  # the refused ones left nothing behind
        # Every other route keeps the contract's cap.
        default = http.post(KEYS, content=padded(CAP + 1), headers=headers)
        assert_error(default, 413, "PAYLOAD_TOO_LARGE")
