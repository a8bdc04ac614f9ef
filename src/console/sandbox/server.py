"""The sandbox's ASGI app and the uvicorn server that runs it in the foreground."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from types import FrameType

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from console.sandbox.catalogue import routes as catalogue
from console.sandbox.demo import seed_demo
from console.sandbox.feeds import routes as feeds
from console.sandbox.http.auth import LastUsedStamps, VerifiedKeys
from console.sandbox.http.body_limit import BodyLimitMiddleware
from console.sandbox.http.errors import ApiError
from console.sandbox.http.log_capture import LogCapture
from console.sandbox.http.middleware import ContractMiddleware
from console.sandbox.http.ratelimit import FixedWindowLimiter
from console.sandbox.http.responses import (
    ContractExceptionMiddleware,
    api_error_handler,
    http_exception_handler,
)
from console.sandbox.http.routing import resource
from console.sandbox.imports import routes as imports
from console.sandbox.imports.runner import ImportRunner
from console.sandbox.ingest import routes as ingest
from console.sandbox.intents import routes as intents
from console.sandbox.intents.worker import IntentWorker
from console.sandbox.keys import routes as keys
from console.sandbox.logs import routes as logs
from console.sandbox.logs.demo import restore_log_indexes, seed_demo_logs_in
from console.sandbox.logs.model import LogSignal
from console.sandbox.logs.retention import LogPruner
from console.sandbox.logs.sink import LogSink
from console.sandbox.logs.tail import LogTail
from console.sandbox.openapi import openapi_document
from console.sandbox.pipelines import routes as pipelines
from console.sandbox.pipelines.checking import DefinitionChecker
from console.sandbox.pipelines.scheduler import PipelineScheduler
from console.sandbox.records import routes as records
from console.sandbox.records.demo import seed_bulk_records
from console.sandbox.records.indexer import RecordIndexer
from console.sandbox.settings import SandboxSettings
from console.sandbox.storage.database import Database
from console.sandbox.storage.lock import DataDirBusyError, DataDirLock


def part_routes(settings: SandboxSettings) -> dict[str, list[BaseRoute]]:
    """The routes of each part of the contract (`serve --only` offers some of them)."""
    return {
        "keys": [*keys.routes],
        "feeds": [*feeds.routes],
        # File imports write records: they come and go with them.
        "records": [*records.routes, *imports.routes(settings.imports)],
        # Connections and hooks are what a pipeline definition names (an Integrate.io
        # account offers them with its pipelines).
        "pipelines": [*catalogue.routes, *pipelines.routes],
        "intents": [*intents.routes],
        "ingest": [*ingest.routes],
        "logs": [*logs.routes],
    }


def api_routes(settings: SandboxSettings | None = None) -> list[BaseRoute]:
    """The routes of the parts `settings` offers (every route by default), and /openapi.json.

    A part not offered has no routes at all, so its paths answer 404 as any unknown path.
    """
    settings = settings or SandboxSettings()
    offered = [
        route
        for part, routes in part_routes(settings).items()
        if part in settings.parts
        for route in routes
    ]
    return [*offered, resource("/openapi.json", {"GET": openapi_document})]


class _SandboxApp(Starlette):
    """Starlette with a leaner stack around the same middleware.

    No outermost `ServerErrorMiddleware`, which would only wrap every request and every
    message sent once more: the contract middleware, outermost instead, answers every
    exception an app raises (500 with the contract's body and headers, the traceback
    logged) and re-raises one after the response started, as Starlette's did. And the
    exception handlers run in `ContractExceptionMiddleware`, Starlette's own without its
    per-request objects.
    """

    def build_middleware_stack(self) -> ASGIApp:
        """The user middleware (ours, outermost first), then the exception handlers, then
        the routes."""
        if (
            any(key in (500, Exception) for key in self.exception_handlers)
            or self.debug
            or getattr(self, "max_body_size", None) is not None
        ):
            # Starlette's error page or 500 handler, or its body limit: its own stack.
            return super().build_middleware_stack()
        app: ASGIApp = ContractExceptionMiddleware(self.router, handlers=self.exception_handlers)
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app


def create_app(data_dir: Path, settings: SandboxSettings | None = None) -> Starlette:
    """The sandbox platform API on `data_dir` (migrated, and demo-seeded if asked, at start)."""
    settings = settings or SandboxSettings()
    database = Database(data_dir)
    # Notified after every commit that inserted log entries; the live tail waits on it.
    log_signal = LogSignal()
    scheduler = PipelineScheduler(database, settings.pipelines, log_signal)
    last_used = LastUsedStamps(database)
    checker = DefinitionChecker()
    # Polls the worker queues get log entries: it wakes the live tail after each.
    intent_worker = IntentWorker(database, settings.intents, on_logged=log_signal.notify)
    import_runner = ImportRunner(database, settings.imports)
    # The field pass yields the writer to a running import, and whole rounds to queued
    # intents (records/indexer.py).
    indexer = RecordIndexer(database, busy=import_runner.running, paused=intent_worker.busy)
    log_pruner = LogPruner(database, settings.logs)
    log_sink = LogSink(database, log_signal, flush_seconds=settings.logs.flush_seconds)
    log_tail = LogTail(database, log_signal)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await database.open()
        if settings.demo:
            await database.run(seed_demo)
        if settings.demo_records:
            # Its own connection and transactions, in big executemany chunks.
            await asyncio.get_running_loop().run_in_executor(
                None,
                partial(seed_bulk_records, database.data_dir, settings.demo_records, opened=True),
            )
        # A `--demo-logs` seeding killed halfway leaves the table's indexes dropped.
        await database.run(restore_log_indexes)
        if settings.logs.demo_logs:
            await asyncio.get_running_loop().run_in_executor(
                None,
                partial(seed_demo_logs_in, database.data_dir, settings.logs.demo_logs, opened=True),
            )
        log_sink.start()
        scheduler.start()
        indexer.start()
        log_pruner.start()
        intent_worker.start()
        await import_runner.start()
        await log_tail.start()
        try:
            yield
        finally:
            await log_tail.stop()
            await log_pruner.stop()
            await import_runner.stop()
            await intent_worker.stop()
            await indexer.stop()
            await scheduler.stop()
            await log_sink.stop()
            checker.close()
            await last_used.drain()
            await database.close()

    app = _SandboxApp(
        routes=api_routes(settings),
        middleware=[
            Middleware(ContractMiddleware, FixedWindowLimiter(settings.rate_limit)),
            # Logs what no route logged itself (refusals); sees the body limit's 413s.
            Middleware(LogCapture, sink=log_sink),
            # Inside the contract middleware, so a 413 carries its headers; before
            # routing, auth and parsing, so an oversized body costs nothing to refuse.
            Middleware(BodyLimitMiddleware, timing=settings.bodies),
        ],
        exception_handlers={
            ApiError: api_error_handler,
            HTTPException: http_exception_handler,
        },
        lifespan=lifespan,
    )
    app.state.database = database
    app.state.settings = settings
    app.state.scheduler = scheduler
    app.state.last_used = last_used
    # Keys found live lately (http/auth.py); the key routes invalidate it on every change.
    app.state.verified_keys = VerifiedKeys()
    app.state.checker = checker
    app.state.record_indexer = indexer
    app.state.intent_worker = intent_worker
    app.state.ingest_limiter = FixedWindowLimiter(settings.ingest_burst)
    app.state.imports = import_runner
    app.state.log_pruner = log_pruner
    # Notified after every commit that inserted log entries; the live tail waits on it.
    app.state.log_signal = log_signal
    app.state.log_sink = log_sink
    app.state.log_tail = log_tail
    return app


class SandboxServer(uvicorn.Server):
    """uvicorn, announcing its real address and exiting 0 on SIGTERM and SIGINT.

    Stock uvicorn re-raises a caught SIGTERM after shutdown, so the process would exit
    -15 (STACK_NOTES 6); the console treats a clean stop as success.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.url: str | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start listening, then print `listening on http://HOST:PORT` for the parent."""
        await super().startup(sockets=sockets)
        if self.should_exit or not self.servers:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        # An IPv6 literal needs brackets in a URL.
        self.url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        print(f"listening on {self.url}", flush=True)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """End the open log streams first: uvicorn waits for every response to finish
        before the app's own shutdown runs, and a stream never finishes by itself (R7)."""
        tail = getattr(getattr(self.config.app, "state", None), "log_tail", None)
        if isinstance(tail, LogTail):
            tail.close()
        await super().shutdown(sockets=sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Turn SIGINT/SIGTERM into a graceful stop (a second SIGINT forces it)."""

        def stop(signum: int, frame: FrameType | None) -> None:
            if self.should_exit and signum == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True

        handled = [signal.SIGINT, signal.SIGTERM]
        if hasattr(signal, "SIGBREAK"):  # Windows Ctrl-Break
            handled.append(signal.SIGBREAK)
        previous = {signum: signal.signal(signum, stop) for signum in handled}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _stop_when_stdin_closes(server: SandboxServer) -> None:
    """Block on stdin in a daemon thread; at EOF ask uvicorn to shut down."""

    def watch() -> None:
        # os.read on the descriptor, not sys.stdin.buffer: a daemon thread blocked inside
        # the buffered reader holds its lock, and an interpreter shutting down on SIGTERM
        # then aborts ("could not acquire lock for <stdin> at interpreter shutdown").
        try:
            descriptor = sys.stdin.fileno()
            while os.read(descriptor, 4096):
                pass
        except (OSError, ValueError):
            pass
        server.should_exit = True  # uvicorn's main loop polls this every 0.1 s

    threading.Thread(target=watch, name="stdin-eof", daemon=True).start()


def serve(
    host: str,
    port: int,
    data_dir: Path,
    settings: SandboxSettings,
    *,
    stop_on_stdin_eof: bool = False,
    lock_wait: float = 10.0,
) -> int:
    """Run the sandbox in the foreground until SIGTERM/SIGINT (or stdin EOF if asked).

    The data dir is locked for the server's life; if another server holds it, wait up to
    `lock_wait` seconds for it to stop, then exit 1 with a message saying so.
    """
    lock = DataDirLock(data_dir)
    try:
        lock.acquire(lock_wait)
    except DataDirBusyError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 1
    with lock:
        return _serve_locked(host, port, data_dir, settings, stop_on_stdin_eof)


def _serve_locked(
    host: str, port: int, data_dir: Path, settings: SandboxSettings, stop_on_stdin_eof: bool
) -> int:
    app = create_app(data_dir, settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        # uvicorn's default trusts X-Forwarded-For from loopback peers, which would let any
        # local caller choose the address its rate limit counts: the sandbox has no proxy.
        proxy_headers=False,
        # No `server: uvicorn` on every response: it tells a client nothing it needs, and
        # each header costs h11 ~9 µs a response (docs/api.md, Tenancy).
        server_header=False,
    )
    server = SandboxServer(config)
    if stop_on_stdin_eof:
        _stop_when_stdin_closes(server)
    try:
        asyncio.run(server.serve())
    except SystemExit as exc:  # uvicorn exits 3 when it cannot bind or start up
        print(f"sandbox: the server could not start on {host}:{port}", file=sys.stderr)
        return exc.code if isinstance(exc.code, int) else 1
    return 0
