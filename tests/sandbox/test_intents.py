"""Intents (PLATFORM_API "Feeds and intents"): the ingest routes, their errors, outcomes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.sandbox.intents.connector import source_record
from console.sandbox.intents.validation import MAX_ITEMS
from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import database_path

Waiter = Callable[..., None]
FEEDS = "/api/public/v1/feeds"
INTENTS = "/api/public/v1/intents"
BODIES: dict[str, Any] = {
    "upsert": [{"id": "r1", "name": "one"}, {"id": 2, "name": "two"}],
    "patch": {"id": "r1", "name": "uno"},
    "delete": {"ids": ["r1"]},
    "fetch": {"id": "f1"},
    "fetch-list": {"ids": ["f1", "f2"]},
}


def create_feed(api: httpx.Client, slug: str, method: str, id_field: str = "id") -> None:
    """A new feed of the client's account."""
    response = api.post(
        FEEDS, json={"id": slug, "name": slug, "method": method, "id_field": id_field}
    )
    assert response.status_code == 201, response.text


@pytest.fixture
def feeds(api: httpx.Client) -> httpx.Client:
    """The account of `api` with an ingest feed `shop` (id field `sku`) and a trigger feed
    `source` (id field `id`)."""
    create_feed(api, "shop", "ingest", "sku")
    create_feed(api, "source", "trigger")
    return api


def accepted(response: httpx.Response) -> str:
    """The correlation id of a 202 (which must also be the response's X-Correlation-Id)."""
    assert response.status_code == 202, response.text
    correlation_id = response.json()["correlationId"]
    assert response.json() == {"correlationId": correlation_id}
    assert correlation_id.startswith("corr_")
    assert response.headers["X-Correlation-Id"] == correlation_id
    return str(correlation_id)


def outcome_of(api: httpx.Client, correlation_id: str, eventually: Waiter) -> dict[str, Any]:
    """The intent's outcome once it is processed."""
    final: list[dict[str, Any]] = []

    def done() -> bool:
        response = api.get(f"{INTENTS}/{correlation_id}")
        assert response.status_code == 200, response.text
        final[:] = [response.json()]
        return response.json()["status"] not in ("queued", "processing")

    eventually(done, 20)
    return final[0]


def errors_of(response: httpx.Response, status: int, code: str) -> list[dict[str, Any]]:
    """The problems of an error response, after checking its status and first code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert body["correlation_id"] == response.headers["X-Correlation-Id"]
    return list(body["errors"])


@pytest.mark.parametrize("generic", [False, True], ids=["verb", "generic"])
@pytest.mark.parametrize("intent", list(BODIES))
def test_every_intent_answers_202_with_a_committed_correlation_id(
    feeds: httpx.Client, intent: str, generic: bool, eventually: Waiter
) -> None:
    path = f"/ingest/source/intent/{intent}" if generic else f"/ingest/source/{intent}"
    correlation_id = accepted(feeds.post(path, json=BODIES[intent]))
    # Committed before the 202: the outcome is there at once (queued, or already further).
    response = feeds.get(f"{INTENTS}/{correlation_id}")
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert (outcome["correlation_id"], outcome["feed"], outcome["intent"]) == (
        correlation_id,
        "source",
        intent,
    )
    assert outcome["status"] in ("queued", "processing", "succeeded", "partially_failed", "failed")
    assert outcome["received_at"] > 1_700_000_000
    assert outcome["key"]["id"].startswith("key_")
    assert outcome["key"]["shown"].startswith("fdk_…")
    finished = outcome_of(feeds, correlation_id, eventually)
    assert finished["finished_at"] >= finished["started_at"] >= finished["received_at"]


def test_the_generic_route_behaves_exactly_like_the_verb_route(
    feeds: httpx.Client, eventually: Waiter
) -> None:
    verb = outcome_of(
        feeds,
        accepted(feeds.post("/ingest/source/fetch-list", json={"ids": ["g1", "missing-1"]})),
        eventually,
    )
    generic = outcome_of(
        feeds,
        accepted(feeds.post("/ingest/source/intent/fetch-list", json={"ids": ["g1", "missing-1"]})),
        eventually,
    )
    assert verb["status"] == generic["status"] == "partially_failed"
    assert verb["errors"] == generic["errors"]
    assert [record["action"] for record in verb["records"]] == ["created"]
    assert [record["action"] for record in generic["records"]] == ["unchanged"]
    for broken in ({"ids": []}, {"id": "x"}, [1]):
        verb_error = feeds.post("/ingest/source/fetch-list", json=broken)
        generic_error = feeds.post("/ingest/source/intent/fetch-list", json=broken)
        assert verb_error.status_code == generic_error.status_code == 400
        assert verb_error.json()["errors"] == generic_error.json()["errors"]


def test_an_unknown_intent_in_the_generic_route_is_404_naming_it(feeds: httpx.Client) -> None:
    problems = errors_of(feeds.post("/ingest/source/intent/frobnicate", json={}), 404, "NOT_FOUND")
    assert problems[0]["field"] == "intent"
    assert "fetch-list" in problems[0]["message"]


def test_a_missing_id_field_is_400_naming_every_failing_index(feeds: httpx.Client) -> None:
    items: list[Any] = [{"sku": f"s{index}"} for index in range(6)]
    items[1] = {"name": "no sku"}
    items[3] = {"sku": None}
    items[4] = "not an object"
    for intent in ("upsert", "patch"):
        problems = errors_of(
            feeds.post(f"/ingest/shop/{intent}", json=items), 400, "INVALID_PAYLOAD"
        )
        assert [problem["field"] for problem in problems] == ["[1].sku", "[3].sku", "[4]"]
    problems = errors_of(
        feeds.post("/ingest/shop/upsert", json={"id": "x"}), 400, "INVALID_PAYLOAD"
    )
    assert [problem["field"] for problem in problems] == ["sku"]


def test_at_most_100_failing_items_are_listed(feeds: httpx.Client) -> None:
    response = feeds.post("/ingest/shop/upsert", json=[{"name": index} for index in range(250)])
    problems = errors_of(response, 400, "INVALID_PAYLOAD")
    assert len(problems) == 100
    assert problems[99]["field"] == "[99].sku"
    assert response.json()["errors_omitted"] == 150


@pytest.mark.parametrize(
    ("intent", "body", "field"),
    [
        ("delete", {}, None),
        ("delete", {"id": "a", "ids": ["b"]}, "ids"),
        ("delete", {"id": ""}, "id"),
        ("delete", {"id": 1.5}, "id"),
        ("delete", {"ids": ["a", True, "c"]}, "ids[1]"),
        ("delete", {"ids": []}, "ids"),
        ("delete", {"ids": "a"}, "ids"),
        ("delete", {"id": "a", "extra": 1}, "extra"),
        ("delete", ["a"], None),
        ("fetch", {"ids": ["a"]}, None),
        ("fetch-list", {"id": "a"}, None),
        ("upsert", [], None),
        ("upsert", 3, None),
    ],
)
def test_malformed_bodies_are_400_invalid_payload(
    feeds: httpx.Client, intent: str, body: Any, field: str | None
) -> None:
    problems = errors_of(feeds.post(f"/ingest/source/{intent}", json=body), 400, "INVALID_PAYLOAD")
    assert problems[0]["field"] == field


def test_bodies_must_be_strict_json(feeds: httpx.Client) -> None:
    def post(content: bytes, content_type: str | None = "application/json") -> httpx.Response:
        headers = {} if content_type is None else {"Content-Type": content_type}
        return feeds.post("/ingest/source/upsert", content=content, headers=headers)

    errors_of(post(b'{"id": "a", "n": NaN}'), 400, "INVALID_PAYLOAD")
    assert errors_of(post(b'{"id": "a", "n": 1e400}'), 400, "INVALID_PAYLOAD")[0]["field"] == "n"
    assert (
        errors_of(post(b'[{"id": "a", "n": ["\\ud800"]}]'), 400, "INVALID_PAYLOAD")[0]["field"]
        == "[0].n[0]"
    )
    errors_of(post(b"[" * 100 + b"]" * 100), 400, "INVALID_PAYLOAD")
    errors_of(post(b'{"id": "a"'), 400, "INVALID_PAYLOAD")
    errors_of(post(b""), 400, "INVALID_PAYLOAD")
    errors_of(post(b'{"id": "a"}', "text/plain"), 415, "UNSUPPORTED_MEDIA_TYPE")
    errors_of(post(b'{"id": "a"}', None), 415, "UNSUPPORTED_MEDIA_TYPE")


def test_item_counts_are_bounded(feeds: httpx.Client) -> None:
    ids = [f"{index:x}" for index in range(MAX_ITEMS + 1)]
    problems = errors_of(
        feeds.post("/ingest/source/fetch-list", json={"ids": ids}), 400, "INVALID_PAYLOAD"
    )
    assert str(MAX_ITEMS) in problems[0]["message"].replace(",", "")
    accepted(feeds.post("/ingest/source/fetch-list", json={"ids": ids[:MAX_ITEMS]}))
    records = [{"id": index} for index in range(MAX_ITEMS + 1)]
    errors_of(feeds.post("/ingest/source/upsert", json=records), 400, "INVALID_PAYLOAD")


def test_an_unknown_feed_is_404_feed_not_found(
    feeds: httpx.Client, mint_key: Callable[..., str], sandbox_url: str
) -> None:
    errors_of(feeds.post("/ingest/nowhere/upsert", json={"id": "a"}), 404, "FEED_NOT_FOUND")
    errors_of(feeds.post("/ingest/nowhere/intent/upsert", json={"id": "a"}), 404, "FEED_NOT_FOUND")
    # Another account's feed looks the same as an unknown one.
    other = mint_key("other-" + feeds.headers["Authorization"][-8:], "ingest", "private")
    with httpx.Client(base_url=sandbox_url, headers={"Authorization": f"Bearer {other}"}) as them:
        accepted(them.post("/ingest/private/upsert", json={"id": "theirs"}))
    errors_of(feeds.post("/ingest/private/upsert", json={"id": "a"}), 404, "FEED_NOT_FOUND")


def test_an_ingest_key_reaches_only_its_own_feed(
    feeds: httpx.Client, account: str, mint_key: Callable[..., str], sandbox_url: str
) -> None:
    key = mint_key(account, "ingest", "shop")
    with httpx.Client(base_url=sandbox_url, headers={"Authorization": f"Bearer {key}"}) as ingest:
        correlation_id = accepted(ingest.post("/ingest/shop/upsert", json={"sku": "k1"}))
        errors_of(ingest.post("/ingest/source/upsert", json={"id": "a"}), 404, "FEED_NOT_FOUND")
        errors_of(ingest.post("/ingest/nowhere/upsert", json={"id": "a"}), 404, "FEED_NOT_FOUND")
        # The outcome route is an /api/public/v1 route: admin keys only.
        errors_of(ingest.get(f"{INTENTS}/{correlation_id}"), 403, "FORBIDDEN")
    outcome = feeds.get(f"{INTENTS}/{correlation_id}").json()
    assert outcome["key"]["shown"] == f"ik_live_…{key[-4:]}"
    errors_of(
        feeds.post(
            "/ingest/source/upsert",
            json={"id": "a"},
            headers={"Authorization": "Bearer ik_live_nope"},
        ),
        401,
        "UNAUTHORIZED",
    )


def test_fetch_on_an_ingest_feed_is_409_feed_method_mismatch(feeds: httpx.Client) -> None:
    for path in ("/ingest/shop/fetch", "/ingest/shop/intent/fetch"):
        errors_of(feeds.post(path, json={"id": "a"}), 409, "FEED_METHOD_MISMATCH")
    for path in ("/ingest/shop/fetch-list", "/ingest/shop/intent/fetch-list"):
        errors_of(feeds.post(path, json={"ids": ["a"]}), 409, "FEED_METHOD_MISMATCH")


def test_a_body_over_1_mib_is_413(feeds: httpx.Client) -> None:
    body = json.dumps({"ids": ["x" * 1000] * 1100}).encode()
    assert len(body) > 1_048_576
    response = feeds.post(
        "/ingest/source/fetch-list", content=body, headers={"Content-Type": "application/json"}
    )
    errors_of(response, 413, "PAYLOAD_TOO_LARGE")


def test_a_patch_of_an_unknown_record_is_accepted_and_its_failure_stored(
    feeds: httpx.Client, eventually: Waiter
) -> None:
    accepted(feeds.post("/ingest/shop/upsert", json={"sku": "known", "qty": 1}))
    correlation_id = accepted(
        feeds.post(
            "/ingest/shop/patch", json=[{"sku": "known", "qty": 2}, {"sku": "ghost", "qty": 3}]
        )
    )
    outcome = outcome_of(feeds, correlation_id, eventually)
    assert outcome["status"] == "partially_failed"
    assert outcome["items_received"] == 2
    assert [(error["item"], "ghost" in error["message"]) for error in outcome["errors"]] == [
        (1, True)
    ]
    assert [(record["system_id"], record["action"]) for record in outcome["records"]] == [
        ("known", "updated")
    ]
    only_ghost = accepted(feeds.post("/ingest/shop/patch", json={"sku": "ghost", "qty": 3}))
    assert outcome_of(feeds, only_ghost, eventually)["status"] == "failed"


def test_fetch_pulls_deterministic_records_from_the_simulated_source(
    feeds: httpx.Client, eventually: Waiter
) -> None:
    correlation_id = accepted(feeds.post("/ingest/source/fetch", json={"id": 42}))
    outcome = outcome_of(feeds, correlation_id, eventually)
    assert outcome["status"] == "succeeded"
    assert [(record["system_id"], record["action"]) for record in outcome["records"]] == [
        ("42", "created")
    ]
    assert source_record("source", "id", "42") == source_record("source", "id", "42")
    assert source_record("source", "id", "42") != source_record("other", "id", "42")
    missing = outcome_of(
        feeds, accepted(feeds.post("/ingest/source/fetch", json={"id": "missing-1"})), eventually
    )
    assert missing["status"] == "failed"
    assert missing["errors"][0]["field"] == "id"


def test_an_outcome_is_the_accounts_own(
    feeds: httpx.Client, mint_key: Callable[..., str], sandbox_url: str
) -> None:
    correlation_id = accepted(feeds.post("/ingest/source/fetch", json={"id": "mine"}))
    stranger = mint_key("stranger-" + correlation_id[-8:])
    with httpx.Client(
        base_url=sandbox_url, headers={"Authorization": f"Bearer {stranger}"}
    ) as them:
        errors_of(them.get(f"{INTENTS}/{correlation_id}"), 404, "NOT_FOUND")
    errors_of(feeds.get(f"{INTENTS}/corr_unknown"), 404, "NOT_FOUND")


def test_a_client_correlation_id_is_kept_and_a_retry_is_applied_once(
    feeds: httpx.Client, sandbox: SandboxProcess, eventually: Waiter
) -> None:
    sent = "corr_client" + feeds.headers["Authorization"][-12:]
    headers = {"X-Correlation-Id": sent}
    assert (
        accepted(feeds.post("/ingest/source/upsert", json={"id": "once"}, headers=headers)) == sent
    )
    # The same request again (a client retrying after a lost answer): the same 202, no new intent.
    assert (
        accepted(feeds.post("/ingest/source/upsert", json={"id": "once"}, headers=headers)) == sent
    )
    # The id on another request is refused.
    errors_of(
        feeds.post("/ingest/source/upsert", json={"id": "twice"}, headers=headers), 409, "CONFLICT"
    )
    outcome = outcome_of(feeds, sent, eventually)
    assert len(outcome["records"]) == 1
    conn = sqlite3.connect(database_path(sandbox.data_dir), timeout=10)
    try:
        count = conn.execute(
            "SELECT COUNT(*) FROM intents WHERE correlation_id = ?", (sent,)
        ).fetchone()[0]
    finally:
        conn.close()
    assert count == 1


def test_another_accounts_correlation_id_is_neither_refused_nor_revealed(
    feeds: httpx.Client, mint_key: Callable[..., str], sandbox_url: str, eventually: Waiter
) -> None:
    """An account cannot squat on (or probe for) another account's correlation ids: the
    same client id on the other account's own feed is accepted under a fresh id."""
    sent = "corr_shared" + feeds.headers["Authorization"][-12:]
    headers = {"X-Correlation-Id": sent}
    assert accepted(feeds.post("/ingest/source/upsert", json={"id": "a"}, headers=headers)) == sent
    other = mint_key("other-" + sent[-8:])
    with httpx.Client(base_url=sandbox_url, headers={"Authorization": f"Bearer {other}"}) as them:
        create_feed(them, "theirs", "ingest")
        theirs = accepted(them.post("/ingest/theirs/upsert", json={"id": "b"}, headers=headers))
        assert theirs != sent
        assert outcome_of(them, theirs, eventually)["records"][0]["system_id"] == "b"
        errors_of(them.get(f"{INTENTS}/{sent}"), 404, "NOT_FOUND")
    # The first account's intent is untouched, under the id it chose.
    assert outcome_of(feeds, sent, eventually)["records"][0]["system_id"] == "a"


@pytest.fixture
def quick_polls(tmp_path: Path) -> Iterator[SandboxProcess]:
    """A server of its own that polls polling feeds every 0.2 s."""
    server = SandboxProcess(tmp_path / "polls", demo=False, extra_args=["--poll-seconds", "0.2"])
    server.start()
    yield server
    assert server.stop() == 0


def test_polling_feeds_are_polled_on_schedule(
    quick_polls: SandboxProcess, eventually: Waiter
) -> None:
    from console.sandbox.storage.sqlite import mint_key as store_mint_key

    key = store_mint_key(quick_polls.data_dir, account="poller")
    with httpx.Client(
        base_url=str(quick_polls.base_url), headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as api:
        create_feed(api, "stock", "polling", "sku")
        create_feed(api, "pushed", "ingest")

        def polls() -> list[tuple[str, str, str]]:
            conn = sqlite3.connect(database_path(quick_polls.data_dir), timeout=10)
            try:
                return conn.execute(
                    "SELECT feed, status, correlation_id FROM intents WHERE intent = 'poll'"
                    " ORDER BY seq"
                ).fetchall()
            finally:
                conn.close()

        eventually(lambda: sum(status == "succeeded" for _, status, _ in polls()) >= 3, 20)
        assert {feed for feed, _, _ in polls()} == {"stock"}
        first = api.get(f"{INTENTS}/{polls()[0][2]}").json()
        assert first["intent"] == "poll"
        assert first["key"] is None
        assert [record["system_id"] for record in first["records"]] == [
            f"stock-{n:04d}" for n in range(1, 6)
        ]
        second = api.get(f"{INTENTS}/{polls()[1][2]}").json()
        assert [record["system_id"] for record in second["records"]] == [
            f"stock-{n:04d}" for n in range(6, 11)
        ]
        conn = sqlite3.connect(database_path(quick_polls.data_dir), timeout=10)
        try:
            shown = conn.execute(
                "SELECT DISTINCT intent, key_shown FROM record_history WHERE correlation_id = ?",
                (first["correlation_id"],),
            ).fetchall()
        finally:
            conn.close()
        assert shown == [("poll", "connector poll")]
        # Fetches work on polling feeds too.
        accepted(api.post("/ingest/stock/fetch", json={"id": "manual"}))


def records_of(api: httpx.Client, feed: str, **params: str) -> list[dict[str, Any]]:
    """The feed's records matching `params` (one page)."""
    response = api.get(f"{FEEDS}/{feed}/records", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def test_delete_is_soft_and_keeps_who_and_when(
    feeds: httpx.Client,
    account: str,
    mint_key: Callable[..., str],
    sandbox_url: str,
    eventually: Waiter,
) -> None:
    created = accepted(feeds.post("/ingest/shop/upsert", json=[{"sku": "a1"}, {"sku": "a2"}]))
    assert outcome_of(feeds, created, eventually)["status"] == "succeeded"
    key = mint_key(account, "ingest", "shop")
    with httpx.Client(base_url=sandbox_url, headers={"Authorization": f"Bearer {key}"}) as ingest:
        deleted = accepted(ingest.post("/ingest/shop/delete", json={"id": "a1"}))
    outcome = outcome_of(feeds, deleted, eventually)
    assert outcome["status"] == "succeeded"
    assert [(record["system_id"], record["action"]) for record in outcome["records"]] == [
        ("a1", "archived")
    ]
    assert [record["system_id"] for record in records_of(feeds, "shop")] == ["a2"]
    (archived,) = records_of(feeds, "shop", deleted="all", system_id="a1")
    assert archived["deleted"] == 1
    assert archived["data"] == {"sku": "a1"}
    assert archived["last_correlation_id"] == deleted
    mark = archived["archived"]
    assert mark["correlation_id"] == deleted
    assert mark["key"] == f"ik_live_…{key[-4:]}"
    assert mark["key_id"] == outcome["key"]["id"]
    assert outcome["received_at"] <= mark["at"] <= outcome["finished_at"]
    feed = feeds.get(f"{FEEDS}/shop").json()
    assert feed["record_count"] == 1
    # Deleting it again changes nothing; deleting an unknown record fails in the outcome.
    again = outcome_of(
        feeds, accepted(feeds.post("/ingest/shop/delete", json={"ids": ["a1", "zz"]})), eventually
    )
    assert again["status"] == "partially_failed"
    assert [record["action"] for record in again["records"]] == ["unchanged"]
    assert [error["item"] for error in again["errors"]] == [1]


def test_upserts_and_patches_reach_the_records(
    feeds: httpx.Client, sandbox: SandboxProcess, eventually: Waiter
) -> None:
    first = accepted(feeds.post("/ingest/shop/upsert", json={"sku": 7, "qty": 1, "tag": "x"}))
    assert outcome_of(feeds, first, eventually)["status"] == "succeeded"
    patched = accepted(feeds.post("/ingest/shop/patch", json={"sku": 7, "qty": 2, "tag": None}))
    outcome = outcome_of(feeds, patched, eventually)
    (record,) = records_of(feeds, "shop", system_id="7")
    assert record["data"] == {"sku": 7, "qty": 2}
    assert record["last_correlation_id"] == patched
    assert outcome["records"] == [
        {"item": 0, "guid": record["guid"], "system_id": "7", "action": "updated"}
    ]
    # One history row per applied intent, naming it (read behind the server's back).
    conn = sqlite3.connect(database_path(sandbox.data_dir), timeout=10)
    try:
        history = conn.execute(
            "SELECT h.intent, h.correlation_id, h.changed FROM record_history h"
            " JOIN records r ON r.seq = h.record_seq WHERE r.guid = ? ORDER BY h.id",
            (record["guid"],),
        ).fetchall()
    finally:
        conn.close()
    assert [(intent, cid, json.loads(changed)) for intent, cid, changed in history] == [
        ("upsert", first, ["sku", "qty", "tag"]),
        ("patch", patched, ["qty", "tag"]),
    ]
