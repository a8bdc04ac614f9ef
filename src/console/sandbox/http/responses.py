"""HTTP rendering of the contract: JSON responses, error bodies and exception handlers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette._utils import is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from console.common.contract import error_code_for
from console.sandbox.http.errors import ApiError, Problem

# An error body lists this many problems at most (PLATFORM_API, "Limits that hold on every
# route"): 100,000 unknown keys must not become a 7.5 MB answer.
MAX_LISTED_PROBLEMS = 100
# Built once: json.dumps with any non-default option builds a new encoder on every call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_ASCII_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
# `_ENCODER.encode` also builds its C encoder on every call (and a dict of the containers
# it is in, to detect cycles, which a response built by the server never has): this one
# is built once, with the same options. None where the C accelerator is missing.
_MAKE_C_ENCODER: Callable[..., Any] | None = getattr(json.encoder, "c_make_encoder", None)
_C_ENCODER = (
    None
    if _MAKE_C_ENCODER is None
    else _MAKE_C_ENCODER(
        None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
)


def _encode(content: Any) -> str:
    """`_ENCODER.encode(content)`, with the encoder built once where possible."""
    if _C_ENCODER is None or isinstance(content, str):
        return _ENCODER.encode(content)
    return "".join(_C_ENCODER(content, 0))


class ContractJSONResponse(JSONResponse):
    """Strict JSON with the contract's explicit charset."""

    media_type = "application/json; charset=utf-8"

    def render(self, content: Any) -> bytes:
        """Serialise strictly: a non-finite number raises (a 500), never `NaN` on the wire."""
        text = _encode(content)
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate has no UTF-8 form; input checks keep them out, and should
            # one slip through, its \u escape is still valid JSON rather than a 500.
            return _ASCII_ENCODER.encode(content).encode("ascii")


_JSON_CONTENT_TYPE = (b"content-type", ContractJSONResponse.media_type.encode("latin-1"))


def json_response(content: Any, status: int = 200) -> Response:
    """A success response with a JSON body."""
    if status < 200 or status in (204, 304):  # no Content-Length: Starlette's own rules
        return ContractJSONResponse(content, status_code=status)
    # What Response.__init__ does for a body with no extra headers, spelt out: every
    # success response is built here.
    response = ContractJSONResponse.__new__(ContractJSONResponse)
    response.status_code = status
    response.background = None
    body = response.body = response.render(content)
    response.raw_headers = [(b"content-length", b"%d" % len(body)), _JSON_CONTENT_TYPE]
    return response


def correlation_id_of(request: Request) -> str:
    """The request's correlation id (set by the contract middleware)."""
    return str(request.scope.get("state", {}).get("correlation_id", ""))


def error_body(error: ApiError, correlation_id: str) -> dict[str, Any]:
    """The contract's error body: the first problem, the problems (at most
    `MAX_LISTED_PROBLEMS`, then `errors_omitted` says how many more) and the correlation id."""
    listed = error.problems[:MAX_LISTED_PROBLEMS]
    body: dict[str, Any] = {
        "success": False,
        "error": error.problems[0].as_json(),
        "errors": [problem.as_json() for problem in listed],
        "correlation_id": correlation_id,
    }
    if len(error.problems) > len(listed):
        body["errors_omitted"] = len(error.problems) - len(listed)
    return body


def error_response(error: ApiError, correlation_id: str) -> Response:
    """An error response carrying the contract body and the error's own headers."""
    return ContractJSONResponse(
        error_body(error, correlation_id), status_code=error.status, headers=error.headers
    )


async def api_error_handler(request: Request, exc: Exception) -> Response:
    """Render an `ApiError` raised by a route."""
    assert isinstance(exc, ApiError)
    return error_response(exc, correlation_id_of(request))


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Render Starlette's own 404 (no route) and 405 (wrong method) as contract errors."""
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status == 404:
        message = f"No route matches {request.method} {request.url.path}."
    elif status == 405:
        message = f"{request.method} is not allowed on {request.url.path}."
    else:
        message = str(exc.detail)
    code = error_code_for(status)
    error = ApiError(status, [Problem(code, message)], headers=dict(exc.headers or {}))
    return error_response(error, correlation_id_of(request))


class ContractExceptionMiddleware(ExceptionMiddleware):
    """Starlette's `ExceptionMiddleware` (the same handlers, looked up the same way), with
    the request object its handlers take built only when an exception comes, and no second
    wrapper layer: on every request it only notes whether the response started."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        scope["starlette.exception_handlers"] = (self._exception_handlers, self._status_handlers)
        started = False

        async def sender(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, sender)
        except Exception as exc:
            handler = None
            if isinstance(exc, HTTPException):
                handler = self._status_handlers.get(exc.status_code)
            if handler is None:
                handler = next(
                    (
                        self._exception_handlers[cls]
                        for cls in type(exc).__mro__
                        if cls in self._exception_handlers
                    ),
                    None,
                )
            if handler is None:
                raise
            if started:
                raise RuntimeError(
                    "Caught handled exception, but response already started."
                ) from exc
            request = Request(scope, receive, send)
            if is_async_callable(handler):
                # A handler of an HTTP exception takes a Request (its type names both kinds).
                response = await handler(request, exc)  # type: ignore[arg-type]
            else:
                response = await run_in_threadpool(handler, request, exc)
            if response is not None:
                await response(scope, receive, sender)
            # Reused exception instances accumulate tracebacks across requests.
            exc.__traceback__ = None
