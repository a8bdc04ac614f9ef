"""Loopback servers that answer late, never, or with a certificate nobody trusts."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ANSWER = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 35\r\n"
    b"connection: close\r\n\r\n"
    b'{"data": [], "next_cursor": null}\r\n'
)


class SlowServer:
    """A loopback HTTP server that answers each request only once `release` is set."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.listener.getsockname()[1]}"
        self.tls = tls
        self.release = threading.Event()
        self.answered = threading.Event()
        self.requests = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed at teardown
            if self.tls is not None:
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except OSError:
                    conn.close()  # the client refused our certificate: what TLS tests want
                    continue
            with conn:
                received = b""
                while b"\r\n\r\n" not in received:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    received += chunk
                self.requests += 1
                self.release.wait(30)
                # The console may have closed its side: that is what we hope for.
                with contextlib.suppress(OSError):
                    conn.sendall(ANSWER)
                self.answered.set()

    def close(self) -> None:
        self.release.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.listener.close()
        self.thread.join(10)


@pytest.fixture
def slow_server() -> Iterator[SlowServer]:
    """A server that answers only when the test says so (or never)."""
    server = SlowServer()
    yield server
    server.close()


@pytest.fixture
def untrusted_tls_server(tmp_path: Path) -> Iterator[SlowServer]:
    """An HTTPS server whose self-signed certificate no client trusts."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = SlowServer(tls=context)
    yield server
    server.close()
