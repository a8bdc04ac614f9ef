"""Findings of the adversarial probe of the records, intents and imports routes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

FEEDS = "/api/public/v1/feeds"


@pytest.fixture
def feed(api: httpx.Client) -> str:
    """A fresh ingest feed with the default id field."""
    created = api.post(FEEDS, json={"id": "probe", "name": "Probe", "method": "ingest"})
    assert created.status_code == 201, created.text
    return "probe"


@pytest.mark.parametrize("literal", ["1e999", "-1e999", "1" * 400 + ".0"])
def test_a_number_that_overflows_to_infinity_is_a_400_on_record_writes(
    api: httpx.Client, feed: str, literal: str
) -> None:
    body = '{"system_id": "inf", "data": {"n": ' + literal + "}}"
    headers = {"Content-Type": "application/json"}
    response = api.post(f"{FEEDS}/{feed}/records", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == {
        "code": "INVALID_PAYLOAD",
        "message": "data.n is a number too large to be finite.",
        "field": "data.n",
    }
    created = api.post(f"{FEEDS}/{feed}/records", json={"system_id": "ok", "data": {}})
    assert created.status_code == 201, created.text
    patched = api.patch(
        f"{FEEDS}/{feed}/records/{created.json()['guid']}",
        content='{"data": {"n": ' + literal + "}}",
        headers=headers,
    )
    assert patched.status_code == 400, patched.text
    assert patched.json()["error"]["field"] == "data.n"


def test_an_ndjson_row_with_an_infinite_number_is_a_row_error_not_a_failed_import(
    api: httpx.Client, feed: str, eventually: Callable[[Callable[[], bool], float], None]
) -> None:
    content = b'{"id": "a", "n": 1}\n{"id": "b", "n": 1e999}\n{"id": "c", "n": -1e400}\n'
    started = api.post(
        f"{FEEDS}/{feed}/imports",
        files={"file": ("rows.ndjson", content)},
        data={"format": "ndjson"},
    )
    assert started.status_code == 202, started.text
    status_url = f"{FEEDS}/{feed}/imports/{started.json()['import_id']}"
    status: dict[str, Any] = {}

    def finished() -> bool:
        status.update(api.get(status_url).json())
        return status["status"] not in {"queued", "running"}

    eventually(finished, 10)
    assert status["status"] == "partially_failed", status
    assert (status["created"], status["failed"]) == (1, 2)
    assert status["errors"] == [
        {"row": 2, "field": "n", "message": "n is a number too large to be finite."},
        {"row": 3, "field": "n", "message": "n is a number too large to be finite."},
    ]


def test_full_text_reads_run_one_at_a_time_per_key_and_leave_nothing_behind() -> None:
    from console.sandbox.records import routes

    async def scenario() -> tuple[int, int, int]:
        running: dict[str, int] = {"k1": 0, "k2": 0}
        most = {"k1": 0, "k2": 0}
        both = 0

        async def read(name: str) -> None:
            nonlocal both
            async with routes._full_text_reads.hold(name):
                running[name] += 1
                most[name] = max(most[name], running[name])
                both = max(both, sum(1 for count in running.values() if count))
                await asyncio.sleep(0.01)
                running[name] -= 1

        await asyncio.gather(*(read(name) for name in ["k1", "k2"] * 4))
        return most["k1"], both, len(routes._full_text_reads)

    # One key's reads never overlap; another key's go on beside them; no lock is kept.
    assert asyncio.run(scenario()) == (1, 2, 0)
