"""GET /trace/{any_id}: from any id to the log entries and the records it touched."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.sandbox.logs_support import V1, LiveApp, entry, serve

TRACE = f"{V1}/trace"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    yield from serve(tmp_path_factory.mktemp("trace"))


def _feed(api: httpx.Client, slug: str) -> None:
    created = api.post(f"{V1}/feeds", json={"id": slug, "name": slug, "method": "ingest"})
    assert created.status_code == 201, created.text


def _write(api: httpx.Client, feed: str, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A record write; the record and the request's correlation id."""
    response = api.post(f"{V1}/feeds/{feed}/records", json=body)
    assert response.status_code in (200, 201), response.text
    _WRITES[response.headers["X-Correlation-Id"]] = response.headers["X-Request-Id"]
    return response.json(), response.headers["X-Correlation-Id"]


# A record write logs its own entry (request id by correlation id): the scene's inserted
# entries share its correlation id, so traces list both, the inserted one (newer) first.
_WRITES: dict[str, str] = {}


@pytest.fixture
def scene(live: LiveApp) -> dict[str, Any]:
    """An account with two feeds, records written by requests that have log entries."""
    account_id, secret = live.account()
    with live.client(secret) as api:
        _feed(api, "orders")
        _feed(api, "stock")
        first, corr_create = _write(api, "orders", {"system_id": "A-1", "data": {"n": 1}})
        _, corr_update = _write(api, "orders", {"system_id": "A-1", "data": {"n": 2}})
        twin, corr_twin = _write(api, "stock", {"system_id": "A-1", "data": {}})
        _, corr_silent = _write(api, "stock", {"system_id": "B-9", "data": {}})
    create = entry(account_id, correlation_id=corr_create, intent="record.create", feed="orders")
    update = entry(
        account_id,
        correlation_id=corr_update,
        intent="record.update",
        feed="orders",
        idempotency_key="idem-update",
    )
    live.insert([create, update])
    return {
        "account_id": account_id,
        "secret": secret,
        "record": first,
        "twin": twin,
        "create": create,
        "update": update,
        "corr_twin": corr_twin,
        "corr_silent": corr_silent,
    }


def _trace(live: LiveApp, secret: str, any_id: str) -> httpx.Response:
    with live.client(secret) as api:
        return api.get(f"{TRACE}/{any_id}")


def test_a_request_id_leads_to_its_entry_and_the_record_it_wrote(
    live: LiveApp, scene: dict[str, Any]
) -> None:
    response = _trace(live, scene["secret"], scene["update"].request_id)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["matched"] == ["request_id"]
    assert [e["request_id"] for e in data["entries"]] == [scene["update"].request_id]
    (record,) = data["records"]
    assert (record["feed"], record["guid"], record["system_id"]) == (
        "orders",
        scene["record"]["guid"],
        "A-1",
    )
    (change,) = record["changes"]
    assert change["correlation_id"] == scene["update"].correlation_id
    assert change["request_id"] == scene["update"].request_id
    assert "n" in change["changed"]
    assert data["truncated"] == {"entries": False, "records": False}


def test_correlation_and_idempotency_ids(live: LiveApp, scene: dict[str, Any]) -> None:
    by_correlation = _trace(live, scene["secret"], scene["create"].correlation_id).json()["data"]
    assert by_correlation["matched"] == ["correlation_id"]
    assert [e["request_id"] for e in by_correlation["entries"]] == [
        scene["create"].request_id,
        _WRITES[scene["create"].correlation_id],
    ]
    assert [r["guid"] for r in by_correlation["records"]] == [scene["record"]["guid"]]
    by_key = _trace(live, scene["secret"], "idem-update").json()["data"]
    assert by_key["matched"] == ["idempotency_key"]
    assert [e["request_id"] for e in by_key["entries"]] == [scene["update"].request_id]
    # A correlation id with records and only the write's own entry leads to its record.
    silent = _trace(live, scene["secret"], scene["corr_silent"]).json()["data"]
    assert silent["matched"] == ["correlation_id"]
    assert [e["request_id"] for e in silent["entries"]] == [_WRITES[scene["corr_silent"]]]
    assert [r["system_id"] for r in silent["records"]] == ["B-9"]


def test_a_record_guid_and_a_system_id(live: LiveApp, scene: dict[str, Any]) -> None:
    by_guid = _trace(live, scene["secret"], scene["record"]["guid"]).json()["data"]
    assert by_guid["matched"] == ["guid"]
    (record,) = by_guid["records"]
    assert [c["correlation_id"] for c in record["changes"]] == [
        scene["update"].correlation_id,
        scene["create"].correlation_id,
    ]
    # The entries of the requests that changed it, newest first.
    assert [e["request_id"] for e in by_guid["entries"]] == [
        scene["update"].request_id,
        scene["create"].request_id,
        _WRITES[scene["update"].correlation_id],
        _WRITES[scene["create"].correlation_id],
    ]
    by_system_id = _trace(live, scene["secret"], "A-1").json()["data"]
    assert by_system_id["matched"] == ["system_id"]
    assert {(r["feed"], r["guid"]) for r in by_system_id["records"]} == {
        ("orders", scene["record"]["guid"]),
        ("stock", scene["twin"]["guid"]),
    }


def test_another_accounts_ids_and_unknown_ids_are_404(live: LiveApp, scene: dict[str, Any]) -> None:
    _, other = live.account()
    for any_id in (
        scene["update"].request_id,
        scene["update"].correlation_id,
        scene["corr_silent"],
        "idem-update",
        scene["record"]["guid"],
        "A-1",
        "nothing-at-all",
        "x" * 300,
    ):
        response = _trace(live, other, any_id)
        assert response.status_code == 404, (any_id, response.text)
        assert response.json()["error"]["code"] == "NOT_FOUND"
    ingest = live.key(scene["account_id"], "ingest", feed="orders")
    assert _trace(live, ingest, scene["update"].request_id).status_code == 403


def test_lists_are_capped_and_say_so(live: LiveApp) -> None:
    account_id, secret = live.account()
    live.insert([entry(account_id, correlation_id="corr_reused") for _ in range(205)])
    data = _trace(live, secret, "corr_reused").json()["data"]
    assert len(data["entries"]) == 200
    assert data["truncated"] == {"entries": True, "records": False}
    ids = [e["id"] for e in data["entries"]]
    assert ids == sorted(ids, reverse=True)


def test_an_id_of_several_kinds_lists_each(live: LiveApp, scene: dict[str, Any]) -> None:
    with live.client(scene["secret"]) as api:
        # A client-chosen correlation id that is also another record's system id.
        written = api.post(
            f"{V1}/feeds/stock/records",
            json={"system_id": "C-1", "data": {}},
            headers={"X-Correlation-Id": "shared-id"},
        )
        assert written.headers["X-Correlation-Id"] == "shared-id"
        record, _ = _write(api, "stock", {"system_id": "shared-id", "data": {}})
    data = _trace(live, scene["secret"], "shared-id").json()["data"]
    assert data["matched"] == ["correlation_id", "system_id"]
    assert {r["system_id"] for r in data["records"]} == {"C-1", "shared-id"}
    assert record["guid"] in [r["guid"] for r in data["records"]]
