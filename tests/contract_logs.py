"""The real sandbox app, answering the connector logs as a server without the sandbox's
`key` filter does (the contract's `/logs` has none; docs/api.md, "Key events and key
usage"), so the console's fallback for such servers is tested against a real server.

A test-only ASGI wrapper around the sandbox's own app, served in this process
(tests/sandbox/logs_support.py): everything the sandbox does stays real; only what no
server here does is changed:
- `mode="ignore"`: a `key` query parameter is dropped before the app sees it, as a server
  that ignores unknown parameters does (its answer holds every key's entries);
- `mode="refuse"`: a `key` query parameter gets 400 VALIDATION_FAILED naming it, as a
  strict server answers a parameter it does not know;
- either way each log entry's `key` is the contract's text, prefix…last4, without the
  sandbox's key id: the console can tell its key's entries only by that text.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console.sandbox.settings import RateLimit, SandboxSettings
from tests.sandbox.logs_support import LiveApp, rate_limit_off

LOGS = "/api/public/v1/logs"
STREAM = LOGS + "/stream"
TRACE = "/api/public/v1/trace/"
MODES = ("ignore", "refuse")


def contract_key(value: Any) -> Any:
    """`value` with every log entry's key as the contract shows it (prefix…last4 only)."""
    if isinstance(value, list):
        return [contract_key(item) for item in value]
    if not isinstance(value, dict):
        return value
    shown = {name: contract_key(item) for name, item in value.items()}
    key = shown.get("key")
    if isinstance(key, dict) and "shown" in key:
        shown["key"] = key["shown"]
    return shown


def _data_line(line: bytes) -> bytes:
    """One line of the live stream, its `data:` entry rewritten by `contract_key`."""
    if not line.startswith(b"data: "):
        return line
    end = b"\n" if line.endswith(b"\n") else b""
    try:
        data = json.loads(line[6:].rstrip(b"\n"))
    except ValueError:
        return line
    return b"data: " + json.dumps(contract_key(data)).encode() + end


class WithoutKeyFilter:
    """The sandbox app as a server without the `key` log filter answers (see the module)."""

    def __init__(self, app: ASGIApp, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.app = app
        self.mode = mode

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path.startswith(LOGS) or path.startswith(TRACE)):
            await self.app(scope, receive, send)
            return
        params = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        if any(name == "key" for name, _ in params) and path in (LOGS, STREAM):
            if self.mode == "refuse":
                await _refuse_key(send)
                return
            kept = urlencode([(name, value) for name, value in params if name != "key"])
            scope = {**scope, "query_string": kept.encode("latin-1")}
        if path == STREAM:
            await self.app(scope, receive, _StreamRewriter(send))
        else:
            await self.app(scope, receive, _BodyRewriter(send))


async def _refuse_key(send: Send) -> None:
    correlation = "corr_" + uuid.uuid4().hex[:26]
    problem = {"code": "VALIDATION_FAILED", "message": "Unknown parameter: key.", "field": "key"}
    body = json.dumps(
        {"success": False, "error": problem, "errors": [problem], "correlation_id": correlation}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"x-correlation-id", correlation.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _BodyRewriter:
    """Holds a JSON answer until complete, then sends it with the entries' keys rewritten."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.start: Message | None = None
        self.body = b""

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
            return
        if message["type"] != "http.response.body" or self.start is None:
            await self.send(message)
            return
        self.body += message.get("body", b"")
        if message.get("more_body", False):
            return
        body = self.body
        headers = dict(self.start.get("headers", []))
        if self.start["status"] == 200 and headers.get(b"content-type", b"").startswith(
            b"application/json"
        ):
            body = json.dumps(contract_key(json.loads(body))).encode()
        headers[b"content-length"] = str(len(body)).encode()
        await self.send({**self.start, "headers": list(headers.items())})
        await self.send({"type": "http.response.body", "body": body})


class _StreamRewriter:
    """Passes the live stream on line by line, each `data:` entry rewritten."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.pending = b""  # the start of a line not yet complete

    async def __call__(self, message: Message) -> None:
        if message["type"] != "http.response.body":
            await self.send(message)
            return
        data = self.pending + message.get("body", b"")
        more = message.get("more_body", False)
        if more:
            cut = data.rfind(b"\n") + 1
            data, self.pending = data[:cut], data[cut:]
        else:
            self.pending = b""
        body = b"".join(_data_line(line) for line in data.splitlines(keepends=True))
        await self.send({"type": "http.response.body", "body": body, "more_body": more})


def serve_without_key_filter(data_dir: Path, mode: str) -> Iterator[LiveApp]:
    """A started sandbox app behind `WithoutKeyFilter` (for fixtures), stopped afterwards.

    Its ingest burst limit is lifted: a test fills a page of the logs with one key's uses.
    """
    settings = SandboxSettings(rate_limit_off(), ingest_burst=RateLimit(100_000, 1))
    live = LiveApp(data_dir, settings, wrap=lambda app: WithoutKeyFilter(app, mode)).start()
    try:
        yield live
    finally:
        live.stop()
