"""File imports over HTTP against real sandbox servers (docs/api.md, Imports)."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.sandbox.imports.store import MAX_STORED_ERRORS
from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import mint_key
from tests.conftest import SUITE_RATE_LIMIT

FEEDS = "/api/public/v1/feeds"
MIB = 1024 * 1024
Eventually = Callable[[Callable[[], bool], float], None]


def imports_of(feed: str) -> str:
    return f"{FEEDS}/{feed}/imports"


def new_feed(api: httpx.Client, id_field: str = "id") -> str:
    slug = f"imp-{uuid.uuid4().hex[:10]}"
    response = api.post(
        FEEDS, json={"id": slug, "name": slug, "method": "ingest", "id_field": id_field}
    )
    assert response.status_code == 201, response.text
    return slug


def csv_rows(numbers: Iterator[int] | range, *, bad: frozenset[int] = frozenset()) -> bytes:
    """`id,name,city` rows; a row in `bad` has no id (a row error)."""
    lines = ["id,name,city"]
    for n in numbers:
        lines.append(f"{'' if n in bad else n},name {n},city{n % 7}")
    return ("\n".join(lines) + "\n").encode()


def upload(api: httpx.Client, feed: str, content: bytes, **fields: str) -> httpx.Response:
    return api.post(
        imports_of(feed),
        files={"file": ("rows.csv", content, "text/csv")},
        data={"format": "csv", **fields},
        timeout=60,
    )


def status(api: httpx.Client, feed: str, import_id: str) -> dict[str, Any]:
    response = api.get(f"{imports_of(feed)}/{import_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def finished(
    api: httpx.Client, feed: str, import_id: str, eventually: Eventually, timeout: float = 60
) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def done() -> bool:
        seen.update(status(api, feed, import_id))
        return seen["status"] not in ("queued", "running")

    eventually(done, timeout)
    return seen


def record_count(api: httpx.Client, feed: str) -> int:
    response = api.get(f"{FEEDS}/{feed}")
    assert response.status_code == 200, response.text
    return int(response.json()["record_count"])


def all_records(api: httpx.Client, feed: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000, "deleted": "all"}
        if cursor:
            params["cursor"] = cursor
        page = api.get(f"{FEEDS}/{feed}/records", params=params).json()
        records += page["data"]
        cursor = page["pagination"]["next_cursor"]
        if not cursor:
            return records


def record_of(api: httpx.Client, feed: str, system_id: str) -> dict[str, Any]:
    page = api.get(f"{FEEDS}/{feed}/records", params={"system_id": system_id}).json()
    assert len(page["data"]) == 1, page
    record: dict[str, Any] = page["data"][0]
    return record


@pytest.fixture
def long_api(api: httpx.Client) -> httpx.Client:
    api.timeout = httpx.Timeout(60)
    return api


def test_a_50000_row_csv_imports_with_progress_and_bad_rows_by_number(
    long_api: httpx.Client, eventually: Eventually
) -> None:
    api = long_api
    feed = new_feed(api)
    bad = frozenset({1, 777, 25_000, 50_000})
    content = csv_rows(range(1, 50_001), bad=bad)
    assert len(content) > MIB  # over the 1 MiB cap of every other route
    response = upload(api, feed, content)
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {"import_id", "correlation_id"}
    assert body["correlation_id"] == response.headers["X-Correlation-Id"]
    seen: list[int] = []

    def done() -> bool:
        current = status(api, feed, body["import_id"])
        seen.append(current["processed"])
        return current["status"] not in ("queued", "running")

    eventually(done, 120)
    final = status(api, feed, body["import_id"])
    assert seen == sorted(seen)
    assert any(0 < processed < 50_000 for processed in seen), seen  # progress was visible
    assert final["status"] == "partially_failed"
    assert final["total"] == final["processed"] == final["last_row"] == 50_000
    assert final["failed"] == len(bad)
    assert final["created"] == 50_000 - len(bad)
    assert [(e["row"], e["field"]) for e in final["errors"]] == [(n, "id") for n in sorted(bad)]
    assert final["correlation_id"] == body["correlation_id"]
    assert final["started_at"] <= final["finished_at"]
    assert record_count(api, feed) == 50_000 - len(bad)
    assert record_of(api, feed, "49999")["data"] == {
        "id": "49999",
        "name": "name 49999",
        "city": f"city{49_999 % 7}",
    }


def test_array_fields_arrive_as_arrays(long_api: httpx.Client, eventually: Eventually) -> None:
    feed = new_feed(long_api)
    content = b"sku,tags[0],tags[1],tags[2],size\nA1,red,blue,,M\nA2,,,,L\nA3,x,,y,S\n"
    response = upload(long_api, feed, content)
    assert response.status_code == 202, response.text
    final = finished(long_api, feed, response.json()["import_id"], eventually)
    assert (final["created"], final["failed"]) == (0, 3)  # the feed's id field is "id"
    response = upload(long_api, feed, content, id_field="sku")
    final = finished(long_api, feed, response.json()["import_id"], eventually)
    assert final["created"] == 2
    assert final["errors"] == [
        {"row": 3, "field": "tags[1]", "message": "tags[1] is empty but a later item is not"}
    ]
    assert record_of(long_api, feed, "A1")["data"] == {
        "sku": "A1",
        "tags": ["red", "blue"],
        "size": "M",
    }
    assert record_of(long_api, feed, "A2")["data"]["tags"] == []


def test_ndjson_imports_keep_json_types(long_api: httpx.Client, eventually: Eventually) -> None:
    feed = new_feed(long_api)
    content = b'{"id": 1, "n": 2.5, "tags": ["a"], "ok": true}\n\n[1]\n{"id": "two"}\n'
    response = long_api.post(
        imports_of(feed), files={"file": ("rows.ndjson", content)}, data={"format": "ndjson"}
    )
    assert response.status_code == 202, response.text
    final = finished(long_api, feed, response.json()["import_id"], eventually)
    assert (final["created"], final["failed"], final["total"]) == (2, 1, 3)
    assert final["errors"][0]["row"] == 2
    assert record_of(long_api, feed, "1")["data"] == {"id": 1, "n": 2.5, "tags": ["a"], "ok": True}


def test_a_dry_run_says_what_would_happen_and_changes_nothing(
    long_api: httpx.Client, eventually: Eventually
) -> None:
    api = long_api
    feed = new_feed(api)
    response = upload(api, feed, csv_rows(range(1, 11)))
    finished(api, feed, response.json()["import_id"], eventually)
    before = sorted(all_records(api, feed), key=lambda r: r["guid"])
    content = b"id,name,city\n5,changed,x\n11,new,y\n,no id,z\n11,again,w\n12,also new,v\n"
    response = upload(api, feed, content, dry_run="true")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "would_create": 2,
        "would_update": 2,
        "would_reject": 1,
        "rows": [
            {"row": 1, "action": "update", "system_id": "5"},
            {"row": 2, "action": "create", "system_id": "11"},
            {
                "row": 3,
                "action": "reject",
                "system_id": None,
                "field": "id",
                "message": response.json()["rows"][2]["message"],
            },
            {"row": 4, "action": "update", "system_id": "11"},  # a duplicate in the file
            {"row": 5, "action": "create", "system_id": "12"},
        ],
    }
    limited = upload(api, feed, content, dry_run="true", dry_run_rows="2", start_row="2")
    assert [row["row"] for row in limited.json()["rows"]] == [2, 3]
    assert sorted(all_records(api, feed), key=lambda r: r["guid"]) == before
    assert record_count(api, feed) == 10


def test_cancel_then_resume_imports_every_row_exactly_once(
    long_api: httpx.Client, eventually: Eventually
) -> None:
    api = long_api
    feed = new_feed(api)
    rows = 60_000
    content = csv_rows(range(1, rows + 1))
    first = upload(api, feed, content).json()["import_id"]
    eventually(lambda: status(api, feed, first)["processed"] > 0, 60)
    cancelled = api.post(f"{imports_of(feed)}/{first}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    stopped = cancelled.json()
    assert stopped["status"] == "cancelled"
    last_row = stopped["last_row"]
    assert 0 < last_row < rows, "the import finished before it could be cancelled"
    assert last_row % 5000 == 0  # a batch boundary
    assert status(api, feed, first)["last_row"] == last_row  # nothing after the cancel
    assert record_count(api, feed) == last_row

    resumed = upload(api, feed, content, start_row=str(last_row + 1)).json()["import_id"]
    final = finished(api, feed, resumed, eventually, 120)
    assert final["status"] == "succeeded"
    assert final["processed"] == final["created"] == rows - last_row
    assert final["last_row"] == final["total"] == rows
    assert status(api, feed, first)["last_row"] == last_row

    records = all_records(api, feed)
    assert len(records) == rows
    by_id = {record["system_id"]: record["data"] for record in records}
    assert len(by_id) == rows  # no duplicates
    assert all(by_id[str(n)]["name"] == f"name {n}" for n in range(1, rows + 1))

    # Importing the same rows again changes nothing and creates nothing.
    again = upload(api, feed, csv_rows(range(1, 101))).json()["import_id"]
    final = finished(api, feed, again, eventually)
    assert (final["created"], final["updated"], final["unchanged"]) == (0, 0, 100)
    assert record_count(api, feed) == rows


def test_cancel_of_a_finished_import_changes_nothing(
    long_api: httpx.Client, eventually: Eventually
) -> None:
    feed = new_feed(long_api)
    import_id = upload(long_api, feed, csv_rows(range(1, 4))).json()["import_id"]
    final = finished(long_api, feed, import_id, eventually)
    after = long_api.post(f"{imports_of(feed)}/{import_id}/cancel").json()
    assert after == final
    missing = long_api.get(f"{imports_of(feed)}/imp_nothing")
    assert missing.status_code == 404


def test_errors_are_bounded(long_api: httpx.Client, eventually: Eventually) -> None:
    feed = new_feed(long_api)
    rows = MAX_STORED_ERRORS + 500
    content = csv_rows(range(1, rows + 1), bad=frozenset(range(1, rows + 1)))
    import_id = upload(long_api, feed, content).json()["import_id"]
    final = finished(long_api, feed, import_id, eventually)
    assert final["status"] == "failed"
    assert final["failed"] == rows
    assert len(final["errors"]) == MAX_STORED_ERRORS
    assert final["errors_omitted"] == 500
    assert final["errors"][-1]["row"] == MAX_STORED_ERRORS


@pytest.mark.parametrize(
    ("fields", "content", "status_code", "field"),
    [
        ({"format": "xml"}, b"id\n1\n", 400, "format"),
        ({"start_row": "0"}, b"id\n1\n", 400, "start_row"),
        ({"dry_run": "true", "dry_run_rows": "1001"}, b"id\n1\n", 400, "dry_run_rows"),
        ({"bogus": "1"}, b"id\n1\n", 400, "bogus"),
        ({}, b"id,id\n1,2\n", 400, "file"),
        ({}, b"a[0],a[2]\n1,2\n", 400, "file"),
        ({"dry_run": "true"}, b"", 400, "file"),
    ],
    ids=[
        "format",
        "start-row",
        "dry-run-rows",
        "unknown-field",
        "duplicate-column",
        "gap",
        "empty-dry-run",
    ],
)
def test_bad_forms_are_refused_before_anything_is_queued(
    long_api: httpx.Client,
    fields: dict[str, str],
    content: bytes,
    status_code: int,
    field: str,
) -> None:
    feed = new_feed(long_api)
    response = upload(long_api, feed, content, **fields)
    assert response.status_code == status_code, response.text
    assert response.json()["error"]["field"] == field


def test_refusals_before_the_body(long_api: httpx.Client, client: httpx.Client) -> None:
    feed = new_feed(long_api)
    assert upload(long_api, "no-such-feed", b"id\n1\n").json()["error"]["code"] == "FEED_NOT_FOUND"
    assert upload(client, feed, b"id\n1\n").status_code == 401
    not_form = long_api.post(
        imports_of(feed), content=b"id\n1\n", headers={"Content-Type": "text/csv"}
    )
    assert not_form.status_code == 415


# --- servers of their own --------------------------------------------------------------


def _rss(pid: int) -> tuple[int, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            fields[name] = int(value.split()[0]) * 1024
    return fields["VmHWM"], fields["VmRSS"]


def _streamed_form(boundary: str, size: int, fields: dict[str, str]) -> Iterator[bytes]:
    """A multipart body with a CSV of about `size` bytes, made as it is sent."""
    for name, value in fields.items():
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\nid,name,payload\r\n"
    ).encode()
    filler = "x" * 200
    n = sent = 0
    while sent < size:
        chunk = "".join(f"{n + i},row {n + i},{filler}\r\n" for i in range(1000)).encode()
        n += 1000
        sent += len(chunk)
        yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


@pytest.fixture
def own_server(
    make_sandbox: Callable[..., SandboxProcess],
) -> Callable[..., tuple[SandboxProcess, httpx.Client]]:
    clients: list[httpx.Client] = []

    def make(**kwargs: Any) -> tuple[SandboxProcess, httpx.Client]:
        server = make_sandbox(demo=False, rate_limit=SUITE_RATE_LIMIT, **kwargs)
        secret = mint_key(server.data_dir, account="importer", kind="admin")
        http = httpx.Client(
            base_url=str(server.base_url),
            headers={"Authorization": f"Bearer {secret}"},
            timeout=120,
        )
        clients.append(http)
        return server, http

    yield make
    for http in clients:
        http.close()


@pytest.mark.slow
def test_a_large_upload_is_streamed_to_disk_not_held_in_memory(
    own_server: Callable[..., tuple[SandboxProcess, httpx.Client]],
) -> None:
    server, api = own_server()
    assert server.pid is not None
    feed = new_feed(api)
    boundary = "streamed-boundary-7c1f"
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    fields = {"format": "csv", "dry_run": "true", "dry_run_rows": "3"}
    # Warm up (imports, threads), so the baseline is the server's steady state.
    warm = api.post(
        imports_of(feed), content=_streamed_form(boundary, 2 * MIB, fields), headers=headers
    )
    assert warm.status_code == 200, warm.text
    baseline, _ = _rss(server.pid)
    size = 200 * MIB
    response = api.post(
        imports_of(feed), content=_streamed_form(boundary, size, fields), headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["would_create"] == 3
    peak, _ = _rss(server.pid)
    print(f"peak RSS +{(peak - baseline) / MIB:.1f} MiB for a {size / MIB:.0f} MiB upload")
    assert peak - baseline < 40 * MIB
    assert list((server.data_dir / "imports").iterdir()) == []  # the upload was removed


def test_the_import_cap_is_its_own_and_answers_413(
    own_server: Callable[..., tuple[SandboxProcess, httpx.Client]],
) -> None:
    cap = 3 * MIB
    server, api = own_server(extra_args=["--import-max-bytes", str(cap)])
    feed = new_feed(api)
    boundary = "cap-boundary"
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    small = b"".join(_streamed_form(boundary, 2 * MIB, {"format": "csv", "dry_run": "1"}))
    under = api.post(imports_of(feed), content=small, headers=headers)
    assert under.status_code == 200, under.text  # over the 1 MiB of other routes
    for declared in (True, False):
        body = _streamed_form(boundary, 8 * MIB, {"format": "csv"})
        content: bytes | Iterator[bytes] = b"".join(body) if declared else body
        response = api.post(imports_of(feed), content=content, headers=headers)
        assert response.status_code == 413, response.text
        assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert list((server.data_dir / "imports").iterdir()) == []
    assert api.get(f"{FEEDS}/{feed}").json()["record_count"] == 0


@pytest.mark.slow
def test_an_import_killed_with_its_server_is_interrupted_and_resumes_exactly(
    own_server: Callable[..., tuple[SandboxProcess, httpx.Client]],
    make_sandbox: Callable[..., SandboxProcess],
    eventually: Eventually,
) -> None:
    server, api = own_server()
    assert server.pid is not None
    feed = new_feed(api)
    rows = 200_000
    content = csv_rows(range(1, rows + 1))
    import_id = upload(api, feed, content).json()["import_id"]
    eventually(lambda: status(api, feed, import_id)["processed"] >= 10_000, 60)
    os.kill(server.pid, signal.SIGKILL)
    server.stop()
    restarted = make_sandbox(demo=False, rate_limit=SUITE_RATE_LIMIT, data_dir=server.data_dir)
    api.base_url = httpx.URL(str(restarted.base_url))
    after = status(api, feed, import_id)
    assert after["status"] == "interrupted"
    assert 0 < after["last_row"] < rows
    assert record_count(api, feed) == after["last_row"]  # last_row is exact
    assert list((server.data_dir / "imports").iterdir()) == []
    resumed = upload(api, feed, content, start_row=str(after["last_row"] + 1)).json()
    final = finished(api, feed, resumed["import_id"], eventually, 120)
    assert final["status"] == "succeeded"
    assert record_count(api, feed) == rows


def test_a_start_row_past_the_end_is_refused_and_one_past_the_last_row_does_nothing(
    long_api: httpx.Client, eventually: Eventually
) -> None:
    feed = new_feed(long_api)
    content = b"id,name\na,one\nb,two\n"
    refused = upload(long_api, feed, content, start_row="4")
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["field"] == "start_row"
    # Resuming an import whose every row is done (last_row 2): nothing left, nothing changed.
    done = upload(long_api, feed, content, start_row="3")
    assert done.status_code == 202, done.text
    final = finished(long_api, feed, done.json()["import_id"], eventually)
    assert (final["processed"], final["created"], final["total"]) == (0, 0, 2)
    assert final["last_row"] <= final["total"]
    assert record_count(long_api, feed) == 0
