"""The Export dialog against the real sandbox: exactly the filtered rows, and Cancel."""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from console.api.feeds import Feed, FeedsApi
from console.api.records import Record, RecordQuery, RecordsApi
from console.api.transport import ApiClient
from console.ui.records.export import ExportDialog, start_export
from tests.conftest import run


def _feed(url: str, key: str, records: list[dict[str, Any]], archive: set[str]) -> Feed:
    """A new feed (id field `id`) with `records`; those whose id is in `archive` archived."""

    async def create() -> Feed:
        client = ApiClient(url, key)
        try:
            feed = await FeedsApi(client).create(f"exp-{uuid.uuid4().hex[:8]}", "Export test")
            api = RecordsApi(client)
            for data in records:
                written = await api.upsert(feed.id, system_id=str(data["id"]), data=data)
                if data["id"] in archive:
                    await api.archive(feed.id, written.record.guid)
            return feed
        finally:
            await client.aclose()

    return run(create())


def _listed(url: str, key: str, feed_id: str, query: RecordQuery) -> list[Record]:
    async def fetch() -> list[Record]:
        client = ApiClient(url, key)
        try:
            records: list[Record] = []
            async for page in RecordsApi(client).iterate(feed_id, query, limit=100):
                records.extend(page.items)
            return records
        finally:
            await client.aclose()

    return run(fetch())


def _export(qtbot: QtBot, dialog: ExportDialog, target: Path, fmt: str) -> Any:
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData(fmt))
    chooser = dialog.choose_file()
    chooser.selectFile(str(target))
    chooser.accept()
    assert dialog.file_edit.text() == str(target)
    with qtbot.waitSignal(dialog.export_finished, timeout=30000) as finished:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(dialog.export_button.isEnabled, timeout=5000)  # ready for another
    return finished.args


def _records(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"R{n:03d}",
            "status": "shipped" if n % 3 == 0 else "open",
            "lines": [{"sku": f"S{n}", "qty": n}] * (n % 4),
            "tags": ["a", "b", "c"][: n % 4],
            "note": f'line "{n}", with comma\nand newline',
        }
        for n in range(1, count + 1)
    ]


def test_export_writes_exactly_the_filtered_rows_as_csv_and_ndjson(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    shipped = {f"R{n:03d}" for n in range(3, 31, 3)}
    archived = {"R003", "R004", "R005"}
    feed = _feed(sandbox_url, admin_key, _records(30), archive=archived)
    # Archived and active records whose status is "shipped": R003 (archived) is in, R004 not.
    query = RecordQuery(deleted="all", fields=(("status", "shipped"),))
    listed: list[Record] = []

    def listed_by_the_server() -> bool:
        # Field filters read an index the server fills just after each write.
        listed[:] = _listed(sandbox_url, admin_key, feed.id, query)
        return {record.system_id for record in listed} == shipped

    qtbot.waitUntil(listed_by_the_server, timeout=15000)
    expected = list(listed)
    dialog = start_export(window, window.session, feed, query)
    assert "status = shipped" in dialog.what_label.text()

    folder = tmp_path / "exports"
    folder.mkdir()
    target = folder / "shipped.csv"
    assert _export(qtbot, dialog, target, "csv") == [str(target), 10]
    with target.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["guid"] for row in rows] == [record.guid for record in expected]
    header = list(rows[0])
    assert header[:5] == ["guid", "system_id", "version", "updated_at", "deleted"]
    assert {"id", "status", "lines[0]", "lines[1]", "tags[0]", "tags[1]", "note"} <= set(header)
    for row, record in zip(rows, expected, strict=True):
        assert row["system_id"] == record.system_id
        assert row["version"] == str(record.version)
        assert row["deleted"] == ("1" if record.system_id in archived else "0")
        assert row["status"] == "shipped"
        assert row["note"] == record.data["note"]
        for index, line in enumerate(record.data["lines"]):
            assert json.loads(row[f"lines[{index}]"]) == line

    target_ndjson = folder / "shipped.ndjson"
    assert _export(qtbot, dialog, target_ndjson, "ndjson") == [str(target_ndjson), 10]
    lines = [json.loads(line) for line in target_ndjson.read_text(encoding="utf-8").splitlines()]
    assert [line["guid"] for line in lines] == [record.guid for record in expected]
    for line, record in zip(lines, expected, strict=True):
        data = {
            k: v
            for k, v in line.items()
            if k not in ("guid", "system_id", "version", "updated_at", "deleted")
        }
        assert data == record.data
    assert sorted(p.name for p in folder.iterdir()) == ["shipped.csv", "shipped.ndjson"]
    dialog.close()


def test_a_cancelled_export_leaves_no_file(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str, tmp_path: Path
) -> None:
    feed = _feed(sandbox_url, admin_key, _records(25), archive=set())
    dialog = start_export(window, window.session, feed, RecordQuery())
    dialog.page_size = 5  # several pages, so Cancel comes between two of them

    shown: list[tuple[int, int, str]] = []

    def cancel_after_the_first_page(rows: int) -> None:
        shown.append(
            (
                dialog.progress_bar.value(),
                dialog.progress_bar.maximum(),
                dialog.progress_label.text(),
            )
        )
        if rows and dialog.cancel_button.isEnabled():
            qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)

    dialog.progress_changed.connect(cancel_after_the_first_page)
    folder = tmp_path / "exports"
    folder.mkdir()
    dialog.file_edit.setText(str(folder / "all.csv"))
    with qtbot.waitSignal(dialog.export_stopped, timeout=30000) as stopped:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert stopped.args == [None]  # cancelled, not failed
    assert "no file was written" in dialog.error_label.text()
    assert 0 < dialog.rows_written < 25
    # Unfiltered: the feed's record count (read as the export starts) is the expected total.
    assert shown[0][:2] == (5, 25)
    assert "5 of about 25 rows" in shown[0][2]
    qtbot.waitUntil(lambda: dialog.runner.running == 0, timeout=5000)
    assert list(folder.iterdir()) == []  # neither the file nor its temporary part
    dialog.close()
