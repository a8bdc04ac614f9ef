"""The request body cap, enforced as the body arrives: before routing, auth and parsing.

A pure ASGI middleware that wraps `receive` and counts bytes (STACK_NOTES 11): Starlette's
`request.body()` would buffer the whole body first, however large.

- A declared `Content-Length` over the cap is refused at once, before a byte is read.
- Ordinary routes (cap up to `MAX_BODY_BYTES`) get their body read here in full before they
  run, so a chunked body is refused as soon as it passes the cap, and routes that never read
  their body (unknown paths, GETs) refuse it too.
- A route that declares a larger cap (`routing.resource(..., max_body_bytes=N)`, e.g. a
  file import that streams to disk) gets the body as a stream; the count is kept as it reads,
  and the 413 replaces whatever it was doing.

A response sent before its request body has fully arrived (every 413, and a streaming route
that answers early) says `Connection: close`, and the connection lingers, reading and
dropping what the client still sends, until the body ends, the client goes quiet or a time
limit passes (nginx's lingering close, with its default times). Closing at once would reset
the connection while the client is still writing. Linux keeps the answer readable after a
reset (measured here: httpx then reports the 413), but a TCP stack may discard unread data
on a reset (the reason web servers linger), and its client would see a broken connection
instead of the 413.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console.sandbox.http.errors import ApiError
from console.sandbox.http.responses import error_response
from console.sandbox.settings import BodyTiming

# The contract's one cap for every route (PLATFORM_API, "Limits that hold on every route").
MAX_BODY_BYTES = 1_048_576
# How long a refused request may keep sending (in all, and without a byte) before the
# connection is closed under it: nginx's lingering_time and lingering_timeout.
LINGER_SECONDS = 30.0
LINGER_IDLE_SECONDS = 5.0


class BodyNotReceived(Exception):
    """A body that did not arrive in time, or that the server had no room to hold."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.problems[0].message)
        self.error = error


class _InFlight:
    """Body bytes held, across all requests still arriving (one event loop: no lock)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.held = 0


class RequestBodyTooLarge(Exception):
    """Raised from `receive` when a streamed body passes its route's cap.

    Deliberately not an `ApiError`: no route handler renders it; the middleware answers.
    """


def body_cap_of(route: BaseRoute, default: int = MAX_BODY_BYTES) -> int:
    """The most body bytes `route` accepts (its `max_body_bytes`, else `default`)."""
    cap = getattr(route, "max_body_bytes", None)
    return cap if isinstance(cap, int) else default


def _body_framing(scope: Scope) -> tuple[int | None, bool]:
    """The request's Content-Length (None without one) and whether its body is chunked.

    Read from the raw header list (ASGI lowercases names): this runs on every request.
    """
    declared: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = max(int(value), 0)
            except ValueError:  # uvicorn refuses such requests before they get here
                declared = None
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    return declared, chunked


def _refusal(cap: int, declared: int | None) -> ApiError:
    sent = f" (Content-Length {declared:,} bytes)" if declared is not None else ""
    return ApiError.single(
        413,
        "PAYLOAD_TOO_LARGE",
        f"The request body{sent} is over the limit of {cap:,} bytes for this route.",
    )


async def _in_time(receive: Receive, idle_seconds: float, deadline: float) -> Message:
    """The next message, or TimeoutError after `idle_seconds` of silence or at `deadline`
    (loop time): the one clock for reading a body and for lingering after an answer."""
    wait = min(idle_seconds, deadline - asyncio.get_running_loop().time())
    if wait <= 0:
        raise TimeoutError
    async with asyncio.timeout(wait):
        return await receive()


def _stalled(timing: BodyTiming) -> ApiError:
    return ApiError.single(
        408,
        "REQUEST_TIMEOUT",
        f"The request body did not arrive in time (at most {timing.idle_seconds:g} s without "
        f"a byte and {timing.total_seconds:g} s in all); send it again in one go.",
    )


def _busy() -> ApiError:
    return ApiError.single(
        503,
        "INTERNAL",
        "The server is receiving too many request bodies at once; retry in a second.",
        headers={"Retry-After": "1"},
    )


class _Exchange:
    """One request's body count, and the lingering close of an early answer."""

    def __init__(self, receive: Receive, send: Send, cap: int) -> None:
        self._receive = receive
        self._send = send
        self.cap = cap
        self.received = 0
        self.body_complete = False
        self.overflowed = False
        self.refused = False
        self.response_started = False
        self._linger = False

    async def receive(self) -> Message:
        """The server's `receive`, counting body bytes against the cap."""
        if self.overflowed:
            raise RequestBodyTooLarge
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.body_complete = True
            if self.received > self.cap:
                self.overflowed = True
                raise RequestBodyTooLarge
        return message

    async def read_all(self, timing: BodyTiming, in_flight: _InFlight) -> bytes | None:
        """The whole body (at most the cap); None if the client went away first.

        Raises BodyNotReceived when the client stalls (408) or when the bytes held for all
        bodies still arriving would pass the server's budget (503): a stalled body must not
        hold memory for as long as its client likes.
        """
        deadline = asyncio.get_running_loop().time() + timing.total_seconds
        chunks: list[bytes] = []
        held = 0
        try:
            while not self.body_complete:
                try:
                    message = await _in_time(self.receive, timing.idle_seconds, deadline)
                except TimeoutError:
                    raise BodyNotReceived(_stalled(timing)) from None
                if message["type"] != "http.request":
                    return None
                chunk = message.get("body", b"")
                if chunk and not self.body_complete:
                    if in_flight.held + len(chunk) > in_flight.budget:
                        raise BodyNotReceived(_busy())
                    in_flight.held += len(chunk)
                    held += len(chunk)
                chunks.append(chunk)
        finally:
            in_flight.held -= held
        return b"".join(chunks)

    def replay(self, body: bytes) -> Receive:
        """A `receive` that hands the app `body` in one message, then the server's own."""
        pending = [body]

        async def receive() -> Message:
            if pending:
                return {"type": "http.request", "body": pending.pop(), "more_body": False}
            return await self._receive()

        return receive

    async def send(self, message: Message) -> None:
        """The app's `send`: dropped once a 413 is decided before the app answered."""
        if self.refused or (self.overflowed and not self.response_started):
            return
        await self._forward(message)

    async def _forward(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.response_started = True
            if not self.body_complete:
                self._linger = True
                MutableHeaders(scope=message)["Connection"] = "close"
        elif (
            message["type"] == "http.response.body"
            and self._linger
            and not message.get("more_body", False)
        ):
            # The body goes out now; the end of the response (and with it uvicorn's
            # close) waits until the client has stopped sending.
            await self._send({**message, "more_body": True})
            await self._drain()
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await self._send(message)

    async def _drain(self) -> None:
        """Read and drop the rest of the body, within the linger limits."""
        deadline = asyncio.get_running_loop().time() + LINGER_SECONDS
        while not self.body_complete:
            try:
                message = await _in_time(self._receive, LINGER_IDLE_SECONDS, deadline)
            except TimeoutError:
                return
            if message["type"] != "http.request":
                return  # the client closed the connection
            if not message.get("more_body", False):
                self.body_complete = True

    async def refuse(
        self, scope: Scope, declared: int | None, error: ApiError | None = None
    ) -> None:
        """Answer 413 PAYLOAD_TOO_LARGE (or `error`) with the contract's error body."""
        self.refused = True
        correlation_id = str(scope.get("state", {}).get("correlation_id", ""))
        response = error_response(error or _refusal(self.cap, declared), correlation_id)
        await response(scope, self._receive, self._forward)


class BodyLimitMiddleware:
    """Caps every request body (413 PAYLOAD_TOO_LARGE) by its route's declared limit."""

    def __init__(
        self,
        app: ASGIApp,
        default_cap: int = MAX_BODY_BYTES,
        timing: BodyTiming | None = None,
    ) -> None:
        self.app = app
        self.default_cap = default_cap
        self.timing = timing or BodyTiming()
        self._in_flight = _InFlight(self.timing.in_flight_bytes)

    def cap_for(self, scope: Scope) -> int:
        """The cap of the route `scope` goes to (the default for unknown paths).

        The routes are the app's own (Starlette puts the app in the scope), so a route
        added after start-up still has its cap.
        """
        routes: Sequence[BaseRoute] = getattr(scope.get("app"), "routes", ())
        for route in routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return body_cap_of(route, self.default_cap)
        return self.default_cap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked = _body_framing(scope)
        if not chunked and not declared:
            await self.app(scope, receive, send)  # no body at all
            return
        exchange = _Exchange(receive, send, self.cap_for(scope))
        if declared is not None and declared > exchange.cap:
            await exchange.refuse(scope, declared)
            return
        if exchange.cap <= self.default_cap:
            try:
                body = await exchange.read_all(self.timing, self._in_flight)
            except RequestBodyTooLarge:
                await exchange.refuse(scope, declared)
                return
            except BodyNotReceived as failure:
                await exchange.refuse(scope, declared, failure.error)
                return
            if body is not None:
                await self.app(scope, exchange.replay(body), exchange.send)
            return
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except Exception:
            # Whatever the overflow led the app to raise, the answer is the 413.
            if not exchange.overflowed or exchange.response_started:
                raise
        if exchange.overflowed and not exchange.response_started:
            await exchange.refuse(scope, declared)
