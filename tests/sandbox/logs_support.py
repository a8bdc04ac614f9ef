"""A sandbox app served in this process (uvicorn in a thread), so log tests can insert
entries through the app's own writer, as routes do, and notify its live tail."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from console.sandbox.logs.model import LogBodies, LogEntry, new_request_id
from console.sandbox.logs.store import insert_entries
from console.sandbox.server import SandboxServer, create_app
from console.sandbox.settings import SandboxSettings
from console.sandbox.storage.sqlite import ensure_account, insert_feed, insert_key, now

T = TypeVar("T")
V1 = "/api/public/v1"


class _ThreadServer(SandboxServer):
    """The sandbox's server class (its shutdown ends open streams), off the main thread:
    no signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class LiveApp:
    """The app under uvicorn on a loopback port, with its loop in a thread of its own."""

    def __init__(
        self,
        data_dir: Path,
        settings: SandboxSettings | None = None,
        wrap: Callable[[Starlette], ASGIApp] | None = None,
    ) -> None:
        self.app = create_app(data_dir, settings or SandboxSettings(rate_limit_off()))
        config = uvicorn.Config(
            # `wrap`: what answers in front of the app (tests/contract_logs.py).
            wrap(self.app) if wrap is not None else self.app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            proxy_headers=False,
            timeout_graceful_shutdown=5,
        )
        self.server = _ThreadServer(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_until_complete, args=(self.server.serve(),), daemon=True
        )

    def start(self) -> LiveApp:
        """Start serving; return self once the port is known."""
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert self.thread.is_alive(), "the server did not start"
            assert time.monotonic() < deadline, "the server did not start in time"
            time.sleep(0.01)
        return self

    @property
    def url(self) -> str:
        """The base URL."""
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def stop(self, timeout: float = 15) -> float:
        """Stop the server; return how long that took."""
        started = time.monotonic()
        self.server.should_exit = True
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the server did not stop"
        self.loop.close()
        return time.monotonic() - started

    def call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in one transaction on the app's writer."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(
            self.app.state.database.run(work), self.loop
        )
        return future.result(30)

    def insert(self, entries: list[LogEntry], bodies: LogBodies | None = None) -> list[int]:
        """Insert entries through the writer, then wake the live tail; their ids."""
        ids = self.call(lambda conn: insert_entries(conn, [(e, bodies) for e in entries]))
        self.loop.call_soon_threadsafe(self.app.state.log_signal.notify)
        return ids

    def account(self, kind: str = "admin", feed: str | None = None) -> tuple[int, str]:
        """A fresh account (with `feed` if given) and a key of it: (account id, secret)."""
        name = f"acct-{uuid.uuid4().hex[:12]}"

        def work(conn: sqlite3.Connection) -> tuple[int, str]:
            account_id = ensure_account(conn, name)
            if feed is not None:
                insert_feed(conn, account_id, slug=feed, name=feed, method="ingest")
            _, secret = insert_key(
                conn, account_id, name="test", kind=kind, feed=feed, created_at=now()
            )
            return account_id, secret

        return self.call(work)

    def key(self, account_id: int, kind: str = "admin", feed: str | None = None) -> str:
        """Another key of `account_id`."""

        def work(conn: sqlite3.Connection) -> str:
            if feed is not None:
                exists = conn.execute(
                    "SELECT 1 FROM feeds WHERE account_id = ? AND slug = ?", (account_id, feed)
                ).fetchone()
                if exists is None:
                    insert_feed(conn, account_id, slug=feed, name=feed, method="ingest")
            return insert_key(
                conn, account_id, name="test", kind=kind, feed=feed, created_at=now()
            )[1]

        return self.call(work)

    def client(self, secret: str, **kwargs: Any) -> httpx.Client:
        """An httpx client of the app authenticated with `secret`."""
        headers = {"Authorization": f"Bearer {secret}"}
        kwargs.setdefault("timeout", 10)
        return httpx.Client(base_url=self.url, headers=headers, **kwargs)


def rate_limit_off() -> Any:
    """A per-IP limit the tests never reach."""
    from console.sandbox.settings import RateLimit

    return RateLimit(100_000_000, 300)


def entry(account_id: int, **fields: Any) -> LogEntry:
    """A log entry of `account_id` received now (fields override the defaults)."""
    values: dict[str, Any] = {
        "timestamp": time.time(),
        "request_id": new_request_id(),
        "correlation_id": "corr_" + uuid.uuid4().hex[:26],
        "method": "POST",
        "path": "/api/ingest",
        "intent": "ingest",
        "http_status": 202,
        "processing_status": "queued",
    }
    values.update(fields)
    return LogEntry(account_id=account_id, **values)


def serve(data_dir: Path, settings: SandboxSettings | None = None) -> Iterator[LiveApp]:
    """A started LiveApp, stopped afterwards (for fixtures)."""
    live = LiveApp(data_dir, settings).start()
    try:
        yield live
    finally:
        live.stop()
