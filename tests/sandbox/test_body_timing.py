"""A request body must arrive in time, and stalled bodies cannot hold unbounded memory.

Each test runs the real app under uvicorn (in a thread, on a loopback port) with short
limits, and talks raw HTTP over a socket so it can send a body slowly or not at all.
"""

from __future__ import annotations

import json
import select
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn

from console.sandbox.server import create_app
from console.sandbox.settings import BodyTiming, SandboxSettings

KEYS = "/api/public/v1/keys"
# A generous bound for answers the server owes within a fraction of it.
ANSWER_WITHIN = 10.0


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[BodyTiming], int]]:
    """Start the sandbox app with `timing` in this process; return its port."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(timing: BodyTiming) -> int:
        app = create_app(tmp_path / f"data{len(servers)}", SandboxSettings(bodies=timing))
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", proxy_headers=False
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        started = threading.Event()

        def poll() -> None:
            while not server.started and thread.is_alive():
                started.wait(0.01)

        poll()
        assert server.started, "the server did not start"
        servers.append((server, thread))
        port: int = server.servers[0].sockets[0].getsockname()[1]
        return port

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=15)


def _open(port: int, length: int, first: bytes) -> socket.socket:
    """A POST /keys whose headers promise `length` bytes, of which `first` are sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WITHIN)
    head = (
        f"POST {KEYS} HTTP/1.1\r\nHost: sandbox\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()
    sock.sendall(head + first)
    return sock


def _answer(sock: socket.socket) -> tuple[int, dict[str, str], dict[str, object]]:
    """Read one whole response: status, headers, JSON body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed without an answer"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "the connection closed mid-answer"
        body += chunk
    return int(lines[0].split()[1]), headers, json.loads(body)


def _answered(sock: socket.socket, within: float) -> bool:
    """Whether the server has started to answer within `within` seconds."""
    readable, _, _ = select.select([sock], [], [], within)
    return bool(readable)


def test_a_body_that_stops_arriving_is_answered_408(serve: Callable[[BodyTiming], int]) -> None:
    port = serve(BodyTiming(idle_seconds=0.5, total_seconds=30, in_flight_bytes=10**8))
    sock = _open(port, 1000, b'{"name": ')
    with sock:
        assert _answered(sock, ANSWER_WITHIN), "a stalled body was held with no end"
        status, headers, body = _answer(sock)
    assert status == 408
    assert body["error"]["code"] == "REQUEST_TIMEOUT"  # type: ignore[index]
    assert headers["connection"] == "close"
    assert headers["x-correlation-id"] == body["correlation_id"]


def test_a_body_that_trickles_in_is_answered_408_at_the_total_limit(
    serve: Callable[[BodyTiming], int],
) -> None:
    port = serve(BodyTiming(idle_seconds=1.0, total_seconds=1.5, in_flight_bytes=10**8))
    sock = _open(port, 100_000, b"[")
    with sock:
        sent = 0
        # One byte whenever the server has said nothing for a fifth of a second: never
        # idle long enough for the idle limit, so only the total limit can end it.
        while not _answered(sock, 0.2):
            sock.sendall(b"1")
            sent += 1
            assert sent < 100, "the server kept waiting past its total limit"
        status, _, body = _answer(sock)
    assert status == 408
    assert "1.5 s in all" in body["error"]["message"]  # type: ignore[index]


def test_stalled_bodies_cannot_hold_more_than_the_servers_budget(
    serve: Callable[[BodyTiming], int],
) -> None:
    port = serve(BodyTiming(idle_seconds=20, total_seconds=30, in_flight_bytes=300_000))
    part = b"[" + b"1," * 100_000  # 200 KB of a body that never ends
    first = _open(port, 1_000_000, part)
    second = _open(port, 1_000_000, part)
    with first, second:
        # Together they would hold 400 KB: whichever chunk passes 300 KB gets its request
        # refused at once, while the other (within the budget) is still being waited for.
        readable, _, _ = select.select([first, second], [], [], ANSWER_WITHIN)
        assert len(readable) == 1, "neither was refused, or both were"
        (refused,) = readable
        status, headers, body = _answer(refused)
        assert status == 503
        assert headers["retry-after"] == "1"
        assert body["error"]["code"] == "INTERNAL"  # type: ignore[index]
        waiting = second if refused is first else first
        assert not _answered(waiting, 0.2)
    # Both gone: once the server has seen them go, their bytes are free again, and a body
    # as large as each of theirs is read in full (then refused for having no key).
    for _ in range(100):
        third = _open(port, len(part) + 1, part)
        with third:
            third.sendall(b"1")
            status, _, _ = _answer(third)
        if status != 503:
            break
    assert status == 401
