"""Findings of the adversarial probe of the records, intents and imports routes."""

from __future__ import annotations

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
