"""GET /logs and /logs/{request_id}: filters, pairs, cursors, 400s, scoping, detail bodies."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.sandbox.logs import query
from console.sandbox.logs.model import LogBodies
from console.sandbox.logs.query import LogFilter
from tests.sandbox.logs_support import V1, LiveApp, entry, serve

LOGS = f"{V1}/logs"
FEEDS = ("orders", "stock", "prices")
STATUSES = ("queued", "succeeded", "rejected", "duplicate")
INTENTS = ("ingest", "upsert", "record.create")
WORDS = ("alpha", "Crème brûlée", "東京 タワー", "beta gamma")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    yield from serve(tmp_path_factory.mktemp("logs"))


@pytest.fixture(scope="module")
def corpus(live: LiveApp) -> tuple[int, str, list[dict[str, Any]]]:
    """An account with 72 varied entries; (account id, admin key, entries oldest first)."""
    account_id, secret = live.account()
    # Within the 120 s a timestamp may lag its writing (else it is clamped, D11).
    base = time.time() - 90
    entries = []
    for i in range(72):
        entries.append(
            entry(
                account_id,
                timestamp=base + i,
                feed=FEEDS[i % 3],
                pipeline_id=str(i % 4) if i % 2 else None,
                processing_status=STATUSES[i % 4],
                intent=INTENTS[i % 3] if i % 5 else "pipeline.deployed",
                http_status=(202, 400, 200)[i % 3] if i % 7 else 500,
                idempotency_key=f"idem-{i % 6}" if i % 3 == 0 else None,
                correlation_id=f"corr_shared{i % 9}",
                errors=[{"item": 0, "field": "id", "message": WORDS[i % 4]}],
            )
        )
    ids = []
    for start in range(0, len(entries), 10):
        chunk = entries[start : start + 10]
        text = f'{{"note": "{WORDS[(start // 10) % 4]}"}}'
        ids += live.insert(chunk, LogBodies(text, len(text), False, None))
    with live.client(secret) as api:
        listed = walk(api, {"limit": "1000"})
    assert [e["id"] for e in listed] == sorted(ids, reverse=True)
    return account_id, secret, listed[::-1]


def walk(api: httpx.Client, params: dict[str, str]) -> list[dict[str, Any]]:
    """Every entry a list yields, page by page, following next_cursor to its end."""
    found: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        page = api.get(LOGS, params={**params, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        found += page.json()["data"]
        cursor = page.json()["pagination"]["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError("the walk did not end")


def _text(entry: dict[str, Any], live: LiveApp) -> str:
    row = live.call(
        lambda conn: conn.execute(
            "SELECT body FROM logs_fts WHERE rowid = ?", (entry["id"],)
        ).fetchone()
    )
    return "" if row is None else str(row[0])


def _values(corpus: list[dict[str, Any]]) -> dict[str, str]:
    middle = corpus[len(corpus) // 2]
    return {
        "feed": "stock",
        "pipeline_id": "3",
        "status": "rejected",
        "intent": "upsert",
        "http_status": "400",
        "since": str(middle["timestamp"] - 10),
        "until": str(middle["timestamp"] + 10),
        "q": "creme",
        "id": "corr_shared4",
    }


FILTERS = ("feed", "pipeline_id", "status", "intent", "http_status", "since", "until", "q", "id")


@pytest.mark.parametrize(
    "names",
    [(name,) for name in FILTERS] + list(itertools.combinations(FILTERS, 2)),
    ids=lambda names: "+".join(names),
)
def test_each_filter_and_each_pair_lists_exactly_the_matching_entries(
    live: LiveApp, corpus: tuple[int, str, list[dict[str, Any]]], names: tuple[str, ...]
) -> None:
    _, secret, entries = corpus
    values = _values(entries)
    params = {name: values[name] for name in names}
    problems: list[Any] = []
    log_filter = query.parse_filter(params, problems)
    assert not problems
    expected = [
        e["id"]
        for e in reversed(entries)
        if log_filter.matches(e, _text(e, live) if log_filter.q else None)
    ]
    with live.client(secret) as api:
        found = walk(api, {**params, "limit": "5"})
    assert [e["id"] for e in found] == expected


def test_single_filters_each_match_something(corpus: tuple[int, str, list[dict[str, Any]]]) -> None:
    _, _, entries = corpus
    values = _values(entries)
    for name in FILTERS:
        if name == "q":
            continue
        problems: list[Any] = []
        log_filter = query.parse_filter({name: values[name]}, problems)
        hits = [e for e in entries if log_filter.matches(e)]
        assert 0 < len(hits) < len(entries), name


def test_id_matches_request_correlation_and_idempotency_ids(
    live: LiveApp, corpus: tuple[int, str, list[dict[str, Any]]]
) -> None:
    _, secret, entries = corpus
    target = entries[3]
    with live.client(secret) as api:
        by_request = api.get(LOGS, params={"id": target["request_id"]}).json()["data"]
        by_idem = api.get(LOGS, params={"id": "idem-3"}).json()["data"]
    assert [e["id"] for e in by_request] == [target["id"]]
    assert [e["id"] for e in by_idem] == [
        e["id"] for e in reversed(entries) if e["idempotency_key"] == "idem-3"
    ]
    assert by_idem


def test_cursor_walk_neither_repeats_nor_misses(
    live: LiveApp, corpus: tuple[int, str, list[dict[str, Any]]]
) -> None:
    _, secret, entries = corpus
    with live.client(secret) as api:
        first = api.get(LOGS, params={"limit": "7"}).json()
        # Entries written while a client pages do not shift its later pages.
        account_id = corpus[0]
        live.insert([entry(account_id, feed="late")])
        rest = walk(api, {"limit": "7", "cursor": first["pagination"]["next_cursor"]})
    ids = [e["id"] for e in first["data"] + rest]
    assert ids == [e["id"] for e in reversed(entries)]
    assert len(set(ids)) == len(ids)


def test_the_scan_budget_ends_a_short_page_with_a_cursor(
    live: LiveApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    account_id, secret = live.account()
    live.insert([entry(account_id, feed="busy", processing_status="queued") for _ in range(40)])
    (needle,) = live.insert([entry(account_id, feed="busy", processing_status="failed")])
    live.insert([entry(account_id, feed="busy", processing_status="queued") for _ in range(40)])
    monkeypatch.setattr(query, "SCAN_BUDGET", 10)
    with live.client(secret) as api:
        page = api.get(LOGS, params={"feed": "busy", "status": "failed"}).json()
        # Still searching: no match among the first rows read, but not the end either.
        assert page["data"] == []
        assert page["pagination"]["next_cursor"] is not None
        found = walk(api, {"feed": "busy", "status": "failed"})
        assert [e["id"] for e in found] == [needle]
        # Without residual predicates there is no budget.
        assert len(api.get(LOGS, params={"feed": "busy"}).json()["data"]) == 81


BAD = [
    ("limit", "0"),
    ("limit", "1000001"),
    ("limit", "ten"),
    ("cursor", "not-a-cursor"),
    ("status", "done"),
    ("http_status", "99"),
    ("http_status", "600"),
    ("http_status", "2x0"),
    ("since", "-1"),
    ("since", "nan"),
    ("since", "1" * 33),
    ("since", "253402300800"),
    ("until", "inf"),
    ("q", "x" * 201),
    ("id", "i" * 256),
    ("feed", "f" * 101),
    ("pipeline_id", "p" * 101),
    ("intent", "i" * 101),
]


@pytest.mark.parametrize(("name", "value"), BAD, ids=[f"{n}={v[:12]}" for n, v in BAD])
def test_bad_parameters_are_400_naming_the_field(
    live: LiveApp, corpus: tuple[int, str, list[dict[str, Any]]], name: str, value: str
) -> None:
    with live.client(corpus[1]) as api:
        response = api.get(LOGS, params={name: value})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_FAILED"
    assert response.json()["error"]["field"] == name


def test_until_before_since_is_empty_and_repeated_parameters_are_400(
    live: LiveApp, corpus: tuple[int, str, list[dict[str, Any]]]
) -> None:
    with live.client(corpus[1]) as api:
        backwards = api.get(LOGS, params={"since": "20", "until": "10"})
        twice = api.get(LOGS + "?feed=a&feed=b")
        same_twice = api.get(LOGS + "?feed=a&feed=a")
    assert backwards.json() == {"data": [], "pagination": {"next_cursor": None}}
    assert twice.json()["error"]["field"] == "feed"
    assert same_twice.status_code == 200
    # The limit is capped at 1000, as every list of the contract.
    with live.client(corpus[1]) as api:
        assert api.get(LOGS, params={"limit": "5000"}).status_code == 200


def test_keys_see_only_their_account(
    live: LiveApp, corpus: tuple[int, str, list[dict[str, Any]]]
) -> None:
    account_id, secret, entries = corpus
    other_id, other = live.account()
    (other_entry,) = live.insert([entry(other_id, feed="orders", correlation_id="corr_shared4")])
    ingest = live.key(account_id, "ingest", feed="orders")
    with live.client(secret) as api:
        first = api.get(LOGS, params={"limit": "2"}).json()
        listed = walk(api, {"id": "corr_shared4"})
        assert other_entry not in [e["id"] for e in listed]
        theirs = live.call(
            lambda c: c.execute(
                "SELECT request_id FROM logs WHERE id = ?", (other_entry,)
            ).fetchone()[0]
        )
        missing = api.get(f"{LOGS}/{theirs}")
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "NOT_FOUND")
        unknown = api.get(f"{LOGS}/req_{'x' * 26}")
        assert unknown.status_code == 404
    with live.client(other) as api:
        listed = api.get(LOGS).json()["data"]
        assert [e["id"] for e in listed] == [other_entry]
        # A cursor issued to another account is not a position in this one.
        refused = api.get(LOGS, params={"cursor": first["pagination"]["next_cursor"]})
        assert refused.json()["error"]["field"] == "cursor"
        assert api.get(f"{LOGS}/{entries[0]['request_id']}").status_code == 404
    with live.client(ingest) as api:
        for path in (LOGS, f"{LOGS}/{entries[0]['request_id']}", f"{LOGS}/stream"):
            response = api.get(path)
            assert (response.status_code, response.json()["error"]["code"]) == (403, "FORBIDDEN")
    with httpx.Client(base_url=live.url) as anonymous:
        assert anonymous.get(LOGS).status_code == 401


def _intent_row(live: LiveApp, account_id: int, status: str, times: tuple[float, ...]) -> int:
    received, started, finished = times

    def work(conn: Any) -> int:
        cursor = conn.execute(
            "INSERT INTO intents (correlation_id, account_id, feed, intent, body, body_sha256,"
            " items_received, status, received_at, started_at, finished_at, items_done)"
            " VALUES (?, ?, 'orders', 'upsert', X'', '', 3, ?, ?, ?, ?, 3)",
            ("corr_" + str(time.time_ns()), account_id, status, received, started, finished),
        )
        return int(cursor.lastrowid)

    return live.call(work)


def test_detail_has_bodies_headers_and_the_timeline_of_its_intent(live: LiveApp) -> None:
    account_id, secret = live.account()
    at = time.time()
    seq = _intent_row(live, account_id, "succeeded", (at + 0.01, at + 0.02, at + 0.05))
    bodies = LogBodies(
        '{"sku": "A1"}', 13, False, '{"success":true}', {"content-type": "application/json"}
    )
    created = entry(account_id, timestamp=at, source="intent", source_seq=seq, items_received=3)
    live.insert([created], bodies)
    with live.client(secret) as api:
        detail = api.get(f"{LOGS}/{created.request_id}").json()
    assert detail["request_id"] == created.request_id
    assert detail["request_body"] == '{"sku": "A1"}'
    assert (detail["request_truncated"], detail["request_bytes"]) == (False, 13)
    assert detail["response_body"] == '{"success":true}'
    assert detail["headers"] == {"content-type": "application/json"}
    assert "written_at" not in detail
    assert "source" not in detail
    stages = [(e["stage"], e["timestamp"]) for e in detail["events"]]
    assert stages == [
        ("received", round(at, 3)),
        ("queued", at + 0.01),
        ("processing", at + 0.02),
        ("succeeded", at + 0.05),
    ]


def test_detail_timeline_of_a_queued_import_duplicate_and_rejected(live: LiveApp) -> None:
    account_id, secret = live.account()
    at = time.time()
    queued_seq = _intent_row(live, account_id, "queued", (at, None, None))  # type: ignore[arg-type]
    queued = entry(account_id, source="intent", source_seq=queued_seq)
    duplicate = entry(
        account_id, processing_status="duplicate", idempotency_key="k1", key_id="key_a"
    )
    rejected = entry(
        account_id,
        processing_status="rejected",
        http_status=400,
        errors=[{"item": 2, "field": "[2].sku", "message": "no sku"}],
        duration_ms=4.0,
    )
    original = "req_" + "o" * 26
    live.call(
        lambda conn: conn.execute(
            "INSERT INTO ingest_idempotency VALUES ('key_a', 'k1', ?, ?, '', '{}', ?)",
            (account_id, original, at),
        )
    )
    live.insert([queued, duplicate, rejected])
    with live.client(secret) as api:
        events = {
            e.request_id: api.get(f"{LOGS}/{e.request_id}").json()["events"]
            for e in (queued, duplicate, rejected)
        }
    # The live worker may already have taken the queued intent (then processing and its end
    # follow: the full timeline is the test above); it starts received, queued either way.
    assert [e["stage"] for e in events[queued.request_id]][:2] == ["received", "queued"]
    assert [e["stage"] for e in events[duplicate.request_id]] == ["received", "duplicate"]
    assert original in events[duplicate.request_id][1]["detail"]
    assert [e["stage"] for e in events[rejected.request_id]] == ["received", "rejected"]
    assert "no sku" in events[rejected.request_id][1]["detail"]


def test_python_matcher_agrees_with_the_full_text_index(live: LiveApp) -> None:
    """R6: the stream's `q` (LogFilter.matches) and the list's (FTS5) agree on ASCII,
    accented and CJK text."""
    account_id, secret = live.account()
    texts = ["Crème Brûlée", "creme brulee", "東京タワー", "東京 タワー", "naïve café", "ÅNGSTRÖM"]
    made = [entry(account_id, errors=[{"item": 0, "field": None, "message": t}]) for t in texts]
    live.insert(made)
    with live.client(secret) as api:
        for q in (
            "creme",
            "brûlée",
            "東京",
            "東京タワー",
            "タワー",
            "cafe",
            "angstrom",
            "naive cafe",
        ):
            listed = {e["id"] for e in api.get(LOGS, params={"q": q}).json()["data"]}
            matcher = LogFilter(q=q)
            all_entries = api.get(LOGS, params={"limit": "100"}).json()["data"]
            expected = {e["id"] for e in all_entries if matcher.matches(e, _text(e, live))}
            assert listed == expected, q
            assert listed, q


def test_a_query_without_words_lists_everything(
    live: LiveApp, corpus: tuple[int, str, list[dict[str, Any]]]
) -> None:
    with live.client(corpus[1]) as api:
        assert len(api.get(LOGS, params={"q": "  -- ", "limit": "1000"}).json()["data"]) >= 72


def test_since_and_until_use_the_entry_timestamp(live: LiveApp, tmp_path: Path) -> None:
    account_id, secret = live.account()
    now = time.time()
    # Received 100 s before it was written (a slow body): still found by its own time.
    old, new = entry(account_id, timestamp=now - 100), entry(account_id, timestamp=now)
    live.insert([old, new])
    with live.client(secret) as api:
        early = api.get(LOGS, params={"until": str(now - 50)}).json()["data"]
        late = api.get(LOGS, params={"since": str(now - 50)}).json()["data"]
        future = api.get(LOGS, params={"since": str(now + 1000)}).json()
    assert [e["request_id"] for e in early] == [old.request_id]
    assert [e["request_id"] for e in late] == [new.request_id]
    assert future == {"data": [], "pagination": {"next_cursor": None}}


def test_the_received_step_of_work_without_a_request_names_the_work() -> None:
    """A scheduled poll has no method or path: its timeline never says "None None"."""
    from console.sandbox.logs.query import received_detail

    assert received_detail({"method": "POST", "path": "/api/ingest", "intent": "ingest"}) == (
        "POST /api/ingest"
    )
    poll = received_detail({"method": None, "path": None, "intent": "poll"})
    assert poll == "poll started by the server (no HTTP request)"
