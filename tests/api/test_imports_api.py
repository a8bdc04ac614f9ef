"""The imports module of the API layer against the real sandbox server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from console.api.errors import ApiError
from console.api.feeds import FeedsApi
from console.api.imports import ImportsApi, ImportStatus
from console.api.records import RecordQuery, RecordsApi
from console.api.transport import ApiClient
from tests.conftest import run

Scenario = Callable[[ImportsApi, RecordsApi, FeedsApi], Awaitable[None]]


def _run(url: str, key: str, scenario: Scenario) -> None:
    async def main() -> None:
        client = ApiClient(url, key)
        try:
            feeds = FeedsApi(client)
            await feeds.create("orders", "Orders", id_field="sku")
            await scenario(ImportsApi(client), RecordsApi(client), feeds)
        finally:
            await client.aclose()

    run(main())


async def _finished(imports: ImportsApi, import_id: str) -> ImportStatus:
    async with asyncio.timeout(60):
        seen = [status async for status in imports.watch("orders", import_id, interval=0.05)]
    assert [status.is_finished for status in seen].count(True) == 1
    assert seen[-1].is_finished
    processed = [status.processed for status in seen]
    assert processed == sorted(processed)
    return seen[-1]


def _csv(path: Path, rows: int, bad: frozenset[int] = frozenset()) -> Path:
    lines = ["sku,name,tags[0],tags[1]"]
    for row in range(1, rows + 1):
        sku = "" if row in bad else f"S-{row:06}"
        lines.append(f"{sku},item {row},red,row{row}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_an_upload_imports_every_good_row_and_names_the_bad_ones(
    sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    path = _csv(tmp_path / "orders.csv", 2000, bad=frozenset({7, 1500}))
    progress: list[tuple[int, int]] = []

    async def scenario(imports: ImportsApi, records: RecordsApi, feeds: FeedsApi) -> None:
        started = await imports.start(
            "orders",
            path,
            format="csv",
            id_field="sku",
            progress=lambda sent, total: progress.append((sent, total)),
        )
        assert started.import_id
        assert started.correlation_id.startswith("corr_")
        done = await _finished(imports, started.import_id)
        assert done.status == "partially_failed"
        assert (done.total, done.processed, done.failed) == (2000, 2000, 2)
        assert (done.created, done.last_row) == (1998, 2000)
        assert [(e.row, e.field) for e in done.errors] == [(7, "sku"), (1500, "sku")]
        assert (await feeds.get("orders")).record_count == 1998
        [record] = (await records.page("orders", RecordQuery(system_id="S-000042"))).items
        assert record.data == {"sku": "S-000042", "name": "item 42", "tags": ["red", "row42"]}
        assert record.last_correlation_id == started.correlation_id

    _run(sandbox_url, admin_key, scenario)
    total = path.stat().st_size
    assert progress[-1][0] == progress[-1][1] > total
    assert [sent for sent, _ in progress] == sorted(sent for sent, _ in progress)


def test_a_dry_run_previews_and_changes_nothing(
    sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    path = _csv(tmp_path / "orders.csv", 5000, bad=frozenset({2}))

    async def scenario(imports: ImportsApi, records: RecordsApi, feeds: FeedsApi) -> None:
        await records.upsert("orders", system_id="S-000003", data={"name": "old"})
        dry = await imports.dry_run("orders", path, format="csv", id_field="sku", rows=5)
        assert (dry.would_create, dry.would_update, dry.would_reject) == (3, 1, 1)
        assert [(r.row, r.action) for r in dry.rows] == [
            (1, "create"),
            (2, "reject"),
            (3, "update"),
            (4, "create"),
            (5, "create"),
        ]
        assert dry.rows[1].field == "sku"
        assert dry.rows[2].system_id == "S-000003"
        later = await imports.dry_run(
            "orders", path, format="csv", id_field="sku", rows=2, start_row=4999
        )
        assert [r.row for r in later.rows] == [4999, 5000]
        assert (await feeds.get("orders")).record_count == 1
        [record] = (await records.page("orders", RecordQuery(system_id="S-000003"))).items
        assert record.data["name"] == "old"

    _run(sandbox_url, admin_key, scenario)


def test_cancel_then_resume_imports_every_row_once(
    sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    rows = 50_000
    path = _csv(tmp_path / "orders.csv", rows)

    async def scenario(imports: ImportsApi, records: RecordsApi, feeds: FeedsApi) -> None:
        started = await imports.start("orders", path, format="csv", id_field="sku")
        async with asyncio.timeout(30):  # cancel once a first batch is in, to resume mid-file
            while True:
                status = await imports.status("orders", started.import_id)
                if status.last_row > 0 or status.is_finished:
                    break
                await asyncio.sleep(0.01)
        cancelled = await imports.cancel("orders", started.import_id)
        stopped = await _finished(imports, started.import_id)
        assert cancelled.import_id == started.import_id
        if stopped.status == "cancelled":  # else it finished before the cancel arrived
            assert stopped.is_resumable
            assert 0 < stopped.last_row < rows
            resumed = await imports.start(
                "orders", path, format="csv", id_field="sku", start_row=stopped.resume_row
            )
            done = await _finished(imports, resumed.import_id)
            assert done.status == "succeeded"
            assert done.last_row == rows
        assert (await feeds.get("orders")).record_count == rows

    _run(sandbox_url, admin_key, scenario)


def test_refusals_and_failures_are_typed(sandbox_url: str, admin_key: str, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("name\nno id column\n", encoding="utf-8")

    async def scenario(imports: ImportsApi, records: RecordsApi, feeds: FeedsApi) -> None:
        with pytest.raises(ApiError) as unknown_feed:
            await imports.start("nowhere", path, format="csv")
        assert unknown_feed.value.status == 404
        with pytest.raises(ApiError) as unknown_import:
            await imports.status("orders", "imp_unknown")
        assert unknown_import.value.status == 404
        started = await imports.start("orders", path, format="csv", id_field="sku")
        failed = await _finished(imports, started.import_id)
        assert failed.status == "failed"
        assert failed.errors[0].row == 1
        assert failed.errors[0].field == "sku"
        with pytest.raises(ValueError, match="format"):
            await imports.start("orders", path, format="xml")  # type: ignore[arg-type]

    _run(sandbox_url, admin_key, scenario)
