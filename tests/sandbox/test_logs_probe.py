"""Findings of the adversarial probe of /api/ingest, the connector log and its read routes."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import database_path

LOGS = "/api/public/v1/logs"
Eventually = Callable[[Callable[[], bool], float], None]


@pytest.fixture
def ingest(sandbox_url: str, mint_key: Callable[..., str], account: str) -> Iterator[httpx.Client]:
    """A client with an ingest key of the fresh account's feed `orders`."""
    key = mint_key(account, "ingest", "orders")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=sandbox_url, headers=headers, timeout=30) as client:
        yield client


def _logged_text(sandbox: SandboxProcess, request_id: str) -> str:
    """Everything the log tables keep of one request: the row, its bodies, its search text."""
    conn = sqlite3.connect(database_path(sandbox.data_dir), timeout=10)
    try:
        row = conn.execute("SELECT * FROM logs WHERE request_id = ?", (request_id,)).fetchone()
        if row is None:
            return ""
        log_id = row[0]
        bodies = conn.execute("SELECT * FROM log_bodies WHERE log_id = ?", (log_id,)).fetchall()
        search = conn.execute("SELECT body FROM logs_fts WHERE rowid = ?", (log_id,)).fetchall()
    finally:
        conn.close()
    return repr((row, bodies, search))


def _wait_logged(sandbox: SandboxProcess, response: httpx.Response, eventually: Eventually) -> str:
    request_id = response.headers["X-Request-Id"]
    eventually(lambda: _logged_text(sandbox, request_id) != "", 10)
    time.sleep(0.2)
    return _logged_text(sandbox, request_id)


@pytest.mark.parametrize("header", ["X-Correlation-Id", "Idempotency-Key", "X-Item-Key"])
def test_a_key_sent_in_a_header_the_entry_keeps_is_masked_in_every_log_field(
    ingest: httpx.Client,
    sandbox: SandboxProcess,
    mint_key: Callable[..., str],
    account: str,
    eventually: Eventually,
    header: str,
) -> None:
    # Found: the correlation id, the idempotency key and error messages quoting X-Item-Key
    # were stored as sent, so a key pasted into one of them was kept in full.
    secret = mint_key(account, "admin")
    response = ingest.post("/api/ingest", content=b'{"id": "a"}', headers={header: secret})
    assert response.status_code in (202, 400), response.text
    logged = _wait_logged(sandbox, response, eventually)
    assert logged
    assert secret[4:] not in logged
    assert secret[-24:] not in logged
    assert "fdk_…" + secret[-4:] in logged


def test_a_key_in_the_feed_segment_of_a_refused_path_is_masked_in_the_entry(
    sandbox_url: str,
    sandbox: SandboxProcess,
    mint_key: Callable[..., str],
    account: str,
    eventually: Eventually,
) -> None:
    # Found: the route's context.feed (the raw path segment) won over the masked one.
    key = mint_key(account, "ingest", "orders")
    secret = mint_key(account, "admin")
    response = httpx.post(
        f"{sandbox_url}/ingest/{secret}/upsert",
        content=b'{"id": "a"}',
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 404, response.text
    logged = _wait_logged(sandbox, response, eventually)
    assert logged
    assert secret[-24:] not in logged
