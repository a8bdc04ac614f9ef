"""Import uploads stream the file: a 200 MiB upload barely moves the client's peak RSS, and
a retried upload is sent again whole.

The client runs in its own process (so only its memory is measured) and uploads through
`ImportsApi.start` to a loopback server in this process that reads the body as it arrives,
checks its framing and hashes the file part.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

FILE_SIZE = 200 * 1024 * 1024
RSS_GROWTH_LIMIT = 20 * 1024 * 1024


class CountingServer:
    """Answers every POST with 202 after reading its body; keeps what it saw of each."""

    def __init__(self, refuse_first: int = 0) -> None:
        self.refuse_first = refuse_first  # answer this many requests 429 (after reading them)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.seen: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.listener.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        buffered = b""
        while True:
            while b"\r\n\r\n" not in buffered:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffered += chunk
            head, buffered = buffered.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            headers = {
                k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])
            }
            length = int(headers["content-length"])
            boundary = headers["content-type"].split("boundary=", 1)[1]
            tail = f"\r\n--{boundary}--\r\n".encode()
            digest = hashlib.sha256()
            received = 0
            file_start: int | None = None
            preamble = b""
            window = b""  # the body's last bytes, held back from the hash until the end
            while received < length:
                chunk = buffered or conn.recv(min(1 << 20, length - received))
                buffered = b""
                chunk = chunk[: length - received]
                if not chunk:
                    return
                received += len(chunk)
                if file_start is None:
                    preamble += chunk
                    marker = preamble.find(b'name="file"')
                    end = preamble.find(b"\r\n\r\n", marker) if marker >= 0 else -1
                    if end < 0:
                        continue
                    file_start = end + 4
                    chunk = preamble[file_start:]
                    preamble = preamble[:file_start]
                window += chunk
                if len(window) > len(tail):
                    digest.update(window[: -len(tail)])
                    window = window[-len(tail) :]
            self.seen.append(
                {
                    "content_length": length,
                    "received": received,
                    "preamble": preamble.decode("utf-8", "replace"),
                    "file_bytes": length - (file_start or 0) - len(tail),
                    "file_sha256": digest.hexdigest(),
                    "tail_ok": window == tail,
                }
            )
            if len(self.seen) <= self.refuse_first:
                refusal = b'{"error": {"code": "RATE_LIMITED", "message": "slow down"}}'
                conn.sendall(
                    b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n"
                    + f"retry-after: 1\r\ncontent-length: {len(refusal)}\r\n\r\n".encode()
                    + refusal
                )
                continue
            answer = b'{"import_id": "imp_1", "correlation_id": "corr_1", "status": "queued"}'
            conn.sendall(
                b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\n"
                + f"content-length: {len(answer)}\r\nx-correlation-id: corr_1\r\n\r\n".encode()
                + answer
            )


CLIENT = textwrap.dedent(
    """
    import asyncio, json, resource, sys
    from console.api.imports import ImportsApi
    from console.api.transport import ApiClient

    url, small, big = sys.argv[1:4]
    calls = []

    async def main():
        client = ApiClient(url, "fdk_" + "x" * 40, timeout=60)
        imports = ImportsApi(client)
        try:
            # A first small upload imports and allocates everything a request needs.
            await imports.start("orders", small, format="csv", id_field="id")
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            status = await imports.start(
                "orders", big, format="csv", id_field="id",
                progress=lambda sent, total: calls.append((sent, total)),
            )
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        finally:
            await client.aclose()
        print(json.dumps({
            "growth_kib": after - before, "import_id": status.import_id,
            "progress_calls": len(calls), "last": calls[-1],
        }))

    asyncio.run(main())
    """
)


@pytest.mark.slow
def test_a_200_mib_upload_grows_peak_rss_by_less_than_20_mib(tmp_path: Path) -> None:
    small = tmp_path / "small.csv"
    small.write_bytes(b"id,name\n1,a\n")
    big = tmp_path / "big.csv"
    with big.open("wb") as handle:  # sparse: costs no disk, but reads back as data
        handle.write(b"id,name\n1,start\n")
        handle.seek(FILE_SIZE // 2)
        handle.write(b"\n2,middle\n")
        handle.truncate(FILE_SIZE - 8)
        handle.seek(FILE_SIZE - 8)
        handle.write(b"\n3,end\n\n")
    expected = hashlib.sha256()
    with big.open("rb") as handle:
        while block := handle.read(1 << 20):
            expected.update(block)

    server = CountingServer()
    try:
        src = str(Path(__file__).resolve().parents[2] / "src")
        env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
        done = subprocess.run(
            [sys.executable, "-c", CLIENT, server.url, str(small), str(big)],
            capture_output=True,
            text=True,
            env=env,
            timeout=110,
            check=False,
        )
    finally:
        server.close()
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    upload = server.seen[-1]
    assert upload["received"] == upload["content_length"]
    assert upload["file_bytes"] == FILE_SIZE
    assert upload["file_sha256"] == expected.hexdigest()
    assert upload["tail_ok"]
    assert 'name="format"\r\n\r\ncsv\r\n' in upload["preamble"]
    assert 'name="file"; filename="big.csv"\r\nContent-Type: text/csv' in upload["preamble"]
    assert result["import_id"] == "imp_1"
    assert result["last"] == [upload["content_length"], upload["content_length"]]
    growth = result["growth_kib"] * 1024  # ru_maxrss is in KiB on Linux
    assert growth < RSS_GROWTH_LIMIT, f"peak RSS grew by {growth / 2**20:.1f} MiB"
    assert result["progress_calls"] >= FILE_SIZE // (256 * 1024)


def test_an_upload_refused_with_429_is_sent_again_whole(tmp_path: Path) -> None:
    from console.api.imports import ImportsApi
    from console.api.transport import ApiClient, RetryWait
    from tests.conftest import run

    path = tmp_path / "orders.csv"
    path.write_bytes(b"id,name\n" + b"".join(b"%d,item\n" % n for n in range(50_000)))
    waits: list[RetryWait] = []
    server = CountingServer(refuse_first=1)

    async def upload() -> str:
        client = ApiClient(server.url, "fdk_" + "x" * 40)
        client.add_observer(
            lambda event: waits.append(event) if isinstance(event, RetryWait) else None
        )
        try:
            status = await ImportsApi(client).start("orders", path, format="csv")
        finally:
            await client.aclose()
        return status.import_id

    try:
        assert run(upload()) == "imp_1"
    finally:
        server.close()
    assert len(waits) == 1
    first, second = server.seen
    assert first == second
    assert second["file_bytes"] == path.stat().st_size
    assert second["file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
