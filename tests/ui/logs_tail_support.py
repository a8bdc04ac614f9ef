"""Ingest requests and log reads for the live tail and detail pane tests (API layer, run
on its own loop in a worker thread; the GUI under test uses the session's qasync loop)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from console.api.errors import ApiError
from console.api.ingest import IngestApi, IngestReceipt
from console.api.logs import LogEntry, LogsApi
from console.api.transport import ApiClient
from tests.conftest import run

FEED = "shop"


def ingest(
    url: str,
    key: str,
    batches: Sequence[Sequence[dict[str, Any]]],
    *,
    idempotency_keys: Sequence[str | None] | None = None,
) -> list[IngestReceipt | ApiError]:
    """POST each batch to the feed; a refusal is returned, not raised."""

    async def send() -> list[IngestReceipt | ApiError]:
        client = ApiClient(url, key)
        try:
            api = IngestApi(client)
            answers: list[IngestReceipt | ApiError] = []
            for number, items in enumerate(batches):
                idem = idempotency_keys[number] if idempotency_keys else None
                try:
                    answers.append(await api.send(FEED, list(items), idempotency_key=idem))
                except ApiError as error:
                    if error.status == 429:
                        await asyncio.sleep(error.retry_after or 1)
                        answers.append(await api.send(FEED, list(items), idempotency_key=idem))
                    else:
                        answers.append(error)
            return answers
        finally:
            await client.aclose()

    return run(send())


def server_entries(url: str, admin_key: str, **filters: Any) -> list[LogEntry]:
    """Every entry of the account matching `filters`, newest first (all pages)."""

    async def read() -> list[LogEntry]:
        client = ApiClient(url, admin_key)
        try:
            api = LogsApi(client)
            found: list[LogEntry] = []
            cursor: str | None = None
            while True:
                page = await api.query(limit=1000, cursor=cursor, **filters)
                found += page.items
                if not page.next_cursor:
                    return found
                cursor = page.next_cursor
        finally:
            await client.aclose()

    return run(read())


class CuttableProxy:
    """A loopback TCP relay to `upstream` that a test can cut: `cut()` closes every open
    connection (the server's side of the stream just ends, as when a network drops), and
    while `refusing` new connections are closed as soon as they are accepted."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.refusing = False
        self.accepted = 0
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing:
                conn.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream)
            except OSError:
                conn.close()
                continue
            with self._lock:
                self.accepted += 1
                self._open |= {conn, upstream}
            for source, target in ((conn, upstream), (upstream, conn)):
                threading.Thread(
                    target=self._pump, args=(source, target), name="proxy-pump", daemon=True
                ).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                target.sendall(chunk)
        self._close(source, target)

    def _close(self, *sockets: socket.socket) -> None:
        with self._lock:
            for sock in sockets:
                self._open.discard(sock)
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def cut(self) -> int:
        """Close every open connection; how many there were."""
        with self._lock:
            sockets = list(self._open)
        self._close(*sockets)
        return len(sockets) // 2

    def close(self) -> None:
        """Stop listening and cut what is open."""
        self.listener.close()
        self.cut()
