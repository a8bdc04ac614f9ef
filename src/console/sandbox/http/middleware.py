"""The outermost layer of every request: correlation id, per-IP rate limit, last-resort 500.

A pure ASGI middleware, so even 404/405 from routing, 429 and 500 carry the contract's
headers and error body.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console.sandbox.http.errors import ApiError
from console.sandbox.http.ratelimit import FixedWindowLimiter
from console.sandbox.http.responses import error_response
from console.sandbox.logs.model import LogContext
from console.sandbox.storage.sqlite import AlphanumericPool, random_alphanumeric

logger = logging.getLogger("console.sandbox")

# A client's own correlation id is kept when it is short and safe to echo in headers and logs.
_CLIENT_CORRELATION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_KEY_PREFIXES = ("fdk_", "ik_live_")


def _sent_correlation_id(scope: Scope) -> str:
    """The client's X-Correlation-Id when it is safe to keep, else ''.

    Read from the raw header list (ASGI lowercases names): this runs on every request.
    """
    for name, value in scope["headers"]:
        if name == b"x-correlation-id":
            sent = value.decode("latin-1")
            # One that looks like a key is replaced: ids are logged and searched in full.
            if sent.lower().startswith(_KEY_PREFIXES):
                return ""
            return sent if _CLIENT_CORRELATION_ID.match(sent) else ""
    return ""


def _with_headers(
    headers: Iterable[tuple[bytes, bytes]], extra: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """`headers` with `extra` (this middleware's own) set: any earlier one is replaced.

    Only the names `extra` sets are replaced: a Retry-After of the app's own (a 503 of the
    body limit) stays unless this middleware sets one (a 429).
    """
    setting = {name for name, _ in extra}
    return [header for header in headers if header[0].lower() not in setting] + extra


# A route with a narrower limit of its own (the per-key ingest burst) leaves its `Decision`
# in the scope's state under this name; the response then carries that limit's
# X-RateLimit-* headers when it has no more requests left than the per-IP one.
NARROWER_RATE_LIMIT = "narrower_rate_limit"


# The random characters of a correlation id and of a request id.
_ID_LETTERS = 26


def new_correlation_id() -> str:
    """A fresh correlation id: corr_ + 26 characters."""
    return "corr_" + random_alphanumeric(_ID_LETTERS)


class ContractMiddleware:
    """Adds X-Correlation-Id, X-Request-Id and X-RateLimit-* to every response; answers 429, 500."""

    def __init__(self, app: ASGIApp, limiter: FixedWindowLimiter) -> None:
        self.app = app
        self.limiter = limiter
        # The ids' random characters, read from the CSPRNG a few KiB at a time.
        self._letters = AlphanumericPool()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = _sent_correlation_id(scope)
        if sent:
            correlation_id, request_id = sent, "req_" + self._letters.take(_ID_LETTERS)
        else:
            letters = self._letters.take(2 * _ID_LETTERS)
            correlation_id = "corr_" + letters[:_ID_LETTERS]
            request_id = "req_" + letters[_ID_LETTERS:]
        state = scope.setdefault("state", {})
        state["correlation_id"] = correlation_id
        # What a connector log entry needs of every request (console/sandbox/logs).
        state["request_id"] = request_id
        state["received_at"] = time.time()
        state["started"] = time.perf_counter()
        state["log"] = LogContext()

        # Counted before authentication, so unauthenticated floods are limited too. The
        # client address is the socket peer: the sandbox trusts no forwarding headers.
        client = scope.get("client")
        decision = self.limiter.hit(client[0] if client else "unknown", time.time())
        # Built as raw bytes once per request: this runs on every request.
        extra_headers = [
            (b"x-correlation-id", correlation_id.encode("ascii")),
            *decision.raw_headers(),
            (b"x-request-id", request_id.encode("ascii")),
        ]
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                headers = extra_headers
                state = scope["state"]
                narrower = state.get(NARROWER_RATE_LIMIT)
                if narrower is not None and narrower.remaining <= decision.remaining:
                    headers = [extra_headers[0], *narrower.raw_headers(), extra_headers[-1]]
                # A route may give the request another id (an intent whose client-sent id
                # another account holds gets a fresh one): the header follows it.
                if state["correlation_id"] is not correlation_id:
                    named = (b"x-correlation-id", str(state["correlation_id"]).encode("ascii"))
                    headers = [named, *headers[1:]]
                message["headers"] = _with_headers(message.get("headers", ()), headers)
            await send(message)

        if not decision.allowed:
            error = ApiError.single(
                429,
                "RATE_LIMITED",
                f"Too many requests: the limit is {decision.limit} per "
                f"{self.limiter.limit.seconds} s; retry after {decision.retry_after} s.",
            )
            await error_response(error, correlation_id)(scope, receive, send_with_headers)
            return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            logger.exception("unhandled error (correlation id %s)", correlation_id)
            if response_started:
                raise  # too late for an error body: let the server drop the connection
            error = ApiError.single(
                500,
                "INTERNAL",
                f"An internal error occurred; quote correlation id {correlation_id}.",
            )
            await error_response(error, correlation_id)(scope, receive, send_with_headers)
