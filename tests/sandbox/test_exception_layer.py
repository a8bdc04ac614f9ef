"""The sandbox app's lean stack: the contract middleware outermost, the exception handlers in
ContractExceptionMiddleware (Starlette's own behaviour, fewer objects per request)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send

from console.sandbox.http.errors import ApiError, forbidden
from console.sandbox.http.log_capture import LogCapture
from console.sandbox.http.middleware import ContractMiddleware
from console.sandbox.http.responses import ContractExceptionMiddleware, api_error_handler
from console.sandbox.server import create_app


def _call(app: Any) -> tuple[list[Message], BaseException | None]:
    """One GET through `app`: the messages it sent, and what it raised."""
    scope: Scope = {
        "type": "http",
        "method": "GET",
        "path": "/x",
        "headers": [],
        "query_string": b"",
        "state": {},
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    async def scenario() -> BaseException | None:
        try:
            await app(scope, receive, send)
        except Exception as exc:  # what reaches the server
            return exc
        return None

    loop = asyncio.new_event_loop()
    try:
        return sent, loop.run_until_complete(scenario())
    finally:
        loop.close()


def _raising(error: Exception, *, after_start: bool = False) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if after_start:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        raise error

    return app


def test_an_api_error_is_rendered_by_its_handler() -> None:
    layer = ContractExceptionMiddleware(
        _raising(forbidden("no")), handlers={ApiError: api_error_handler}
    )
    sent, raised = _call(layer)
    assert raised is None
    assert sent[0]["status"] == 403
    assert b'"code":"FORBIDDEN"' in sent[1]["body"]


def test_a_status_handler_wins_over_the_class_handler_and_sync_handlers_run_off_the_loop() -> None:
    threads: list[str] = []

    def teapot(request: Request, exc: Exception) -> Response:
        threads.append(threading.current_thread().name)
        assert isinstance(request, Request)
        return PlainTextResponse("tea", status_code=418)

    layer = ContractExceptionMiddleware(_raising(HTTPException(404)), handlers={404: teapot})
    sent, raised = _call(layer)
    assert raised is None
    assert sent[0]["status"] == 418
    assert len(threads) == 1
    assert threads[0] != threading.current_thread().name


def test_an_exception_without_a_handler_goes_on_unchanged() -> None:
    error = ValueError("boom")
    sent, raised = _call(ContractExceptionMiddleware(_raising(error)))
    assert raised is error
    assert sent == []


def test_a_handled_exception_after_the_response_started_is_not_answered_twice() -> None:
    layer = ContractExceptionMiddleware(
        _raising(forbidden("late"), after_start=True), handlers={ApiError: api_error_handler}
    )
    sent, raised = _call(layer)
    assert isinstance(raised, RuntimeError)
    assert isinstance(raised.__cause__, ApiError)
    assert [message["type"] for message in sent] == ["http.response.start"]


def test_the_app_stack_is_the_contract_middleware_first_and_the_lean_exception_layer_last(
    tmp_path: Path,
) -> None:
    app = create_app(tmp_path / "data")
    stack = app.build_middleware_stack()
    layers = []
    while stack is not app.router:
        layers.append(type(stack))
        stack = stack.app
    assert layers[0] is ContractMiddleware
    assert layers[1] is LogCapture
    assert layers[-1] is ContractExceptionMiddleware
    assert "ServerErrorMiddleware" not in {layer.__name__ for layer in layers}


@pytest.mark.parametrize("handlers", [{500: api_error_handler}, {Exception: api_error_handler}])
def test_an_app_with_a_500_handler_keeps_starlettes_stack(
    tmp_path: Path, handlers: dict[Any, Any]
) -> None:
    app = create_app(tmp_path / "data")
    for key, handler in handlers.items():
        app.add_exception_handler(key, handler)
    stack = app.build_middleware_stack()
    assert type(stack).__name__ == "ServerErrorMiddleware"


def test_an_app_with_starlettes_body_limit_keeps_starlettes_stack(tmp_path: Path) -> None:
    app = create_app(tmp_path / "data")
    app.max_body_size = 1024
    stack = app.build_middleware_stack()
    assert type(stack).__name__ == "ServerErrorMiddleware"
