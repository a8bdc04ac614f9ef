"""The log detail pane against the real sandbox: formatted bodies, per-item errors, the
processing timeline, Copy and Find by ID for every ID, click-to-filter, stale answers
dropped and fetch errors shown inline."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QTableWidget
from pytestqt.qtbot import QtBot

from console.api.errors import ApiError
from console.api.ingest import IngestReceipt
from console.api.logs import LogDetail, LogEntry, LogEvent, LogsApi
from console.api.transport import ApiClient
from console.logbuffer.buffer import Column
from console.ui.logs.detail import (
    MAX_BODY_CHARS,
    MAX_FORMATTED_CHARS,
    LogDetailPane,
    format_body,
    timeline_rows,
)
from tests.ui.logs_tail_support import FEED, ingest, server_entries

BAD_ITEMS = [{"id": "a", "n": 1}, {"n": 2}, {"x": 3}]
GOOD_ITEMS = [{"id": "g1", "price": 9.5, "tags": ["x", "y"]}, {"id": "g2", "price": 1}]


def _rows(table: QTableWidget) -> list[tuple[str, ...]]:
    return [
        tuple(table.item(row, column).text() for column in range(table.columnCount()))
        for row in range(table.rowCount())
    ]


@pytest.fixture
def keys(mint_key: Callable[..., str], account: str) -> tuple[str, str]:
    """(admin key, ingest key of FEED) of a fresh account."""
    return mint_key(account, "admin"), mint_key(account, "ingest", FEED)


@pytest.fixture
def logs(
    qloop: asyncio.AbstractEventLoop, qtbot: QtBot, sandbox_url: str, keys: Any
) -> Iterator[LogsApi]:
    """A LogsApi of the account on the GUI's loop."""
    client = ApiClient(sandbox_url, keys[0])
    yield LogsApi(client)
    closing = asyncio.ensure_future(client.aclose())
    qtbot.waitUntil(closing.done, timeout=5000)


@pytest.fixture
def pane(qtbot: QtBot, logs: LogsApi) -> LogDetailPane:
    widget = LogDetailPane(logs)
    qtbot.addWidget(widget)
    widget.resize(700, 900)
    widget.show()
    return widget


def _settled_entries(
    qtbot: QtBot, url: str, admin_key: str, receipts: list[IngestReceipt | ApiError]
) -> tuple[LogEntry, LogEntry]:
    """(refused entry, succeeded entry) once the good request's processing is final."""
    found: dict[str, LogEntry] = {}

    def settled() -> bool:
        found.clear()
        for entry in server_entries(url, admin_key, feed=FEED):
            found[entry.processing_status] = entry
        return {"rejected", "succeeded"} <= found.keys()

    qtbot.waitUntil(settled, timeout=15000)
    assert isinstance(receipts[1], IngestReceipt)
    assert found["succeeded"].request_id == receipts[1].request_id
    return found["rejected"], found["succeeded"]


def test_detail_shows_formatted_bodies_item_errors_timeline_and_copies_every_id(
    qtbot: QtBot, pane: LogDetailPane, sandbox_url: str, keys: tuple[str, str]
) -> None:
    receipts = ingest(
        sandbox_url, keys[1], [BAD_ITEMS, GOOD_ITEMS], idempotency_keys=["idem-bad", "idem-good"]
    )
    assert isinstance(receipts[0], ApiError)
    assert receipts[0].status == 400
    rejected, succeeded = _settled_entries(qtbot, sandbox_url, keys[0], receipts)

    # The refused request: its fields at once, then its bodies and per-item errors.
    with qtbot.waitSignal(pane.detail_shown, timeout=10000) as shown:
        pane.show_entry(rejected)
        assert rejected.request_id in pane.title.text()  # before the server answered
        assert pane.ids["request"].value == rejected.request_id
        assert pane.loading.text()
    assert shown.args == [rejected.request_id]
    assert not pane.loading.text()
    assert pane.request_body.toPlainText() == json.dumps(BAD_ITEMS, indent=2)
    assert pane.request_body.toPlainText().count("\n") > 5  # pretty-printed, not one line
    response = json.loads(pane.response_body.toPlainText())
    assert response["error"]["code"] == "INVALID_PAYLOAD"
    assert pane.response_body.toPlainText().startswith('{\n  "success": false')
    errors = _rows(pane.errors)
    assert [(item, field) for item, field, _ in errors] == [("1", "id"), ("2", "id")]
    assert all("is missing" in message for _, _, message in errors)
    assert "2" in pane.errors_heading.text()
    stages = [row[0] for row in _rows(pane.timeline)]
    assert stages == ["received", "rejected", "total"]

    # The processed request: received, queued, processing, final, with times and gaps.
    with qtbot.waitSignal(pane.detail_shown, timeout=10000):
        pane.show_entry(succeeded)
    timeline = _rows(pane.timeline)
    assert [row[0] for row in timeline] == [
        "received",
        "queued",
        "processing",
        "succeeded",
        "total",
    ]
    assert all(row[1] != "—" for row in timeline[:-1])  # each step has its time
    assert timeline[0][2] == "—"  # nothing before the first step
    assert all(row[2].endswith(("ms", "s")) for row in timeline[1:])
    assert _rows(pane.errors) == []
    assert pane.request_body.toPlainText() == json.dumps(GOOD_ITEMS, indent=2)
    assert not pane.request_note.text()

    # Copy puts each ID on the clipboard; the key only ever as prefix…last4.
    clipboard = QGuiApplication.clipboard()
    expected = {
        "request": succeeded.request_id,
        "correlation": succeeded.correlation_id,
        "idempotency": "idem-good",
        "key": succeeded.key,
    }
    for name, value in expected.items():
        assert value
        qtbot.mouseClick(pane.ids[name].copy_button, Qt.MouseButton.LeftButton)
        assert clipboard.text() == value, name
    assert "…" in pane.ids["key"].value
    assert pane.ids["key"].value.endswith(keys[1][-4:])
    shown_text = " ".join(
        [label.text() for label in pane.findChildren(type(pane.title))]
        + [pane.request_body.toPlainText(), pane.headers_view.toPlainText()]
    )
    assert keys[1] not in shown_text
    assert keys[0] not in shown_text


def test_clicking_a_value_filters_and_find_by_id_names_the_id(
    qtbot: QtBot, pane: LogDetailPane, sandbox_url: str, keys: tuple[str, str]
) -> None:
    receipts = ingest(sandbox_url, keys[1], [BAD_ITEMS, GOOD_ITEMS], idempotency_keys=["k1", "k2"])
    rejected, _succeeded = _settled_entries(qtbot, sandbox_url, keys[0], receipts)
    with qtbot.waitSignal(pane.detail_shown, timeout=10000):
        pane.show_entry(rejected)

    expected = {
        Column.FEED: FEED,
        Column.STATUS: "rejected",
        Column.INTENT: rejected.intent,
        Column.HTTP_STATUS: 400,
        Column.KEY: rejected.key,
    }
    for column, value in expected.items():
        assert value is not None
        with qtbot.waitSignal(pane.filter_requested, timeout=1000) as clicked:
            qtbot.mouseClick(pane.value_buttons[column], Qt.MouseButton.LeftButton)
        assert clicked.args == [column, value]

    ids = {
        "request": rejected.request_id,
        "correlation": rejected.correlation_id,
        "idempotency": "k1",
    }
    for name, value in ids.items():
        with qtbot.waitSignal(pane.find_requested, timeout=1000) as found:
            qtbot.mouseClick(pane.ids[name].find_button, Qt.MouseButton.LeftButton)
        assert found.args == [value]
    assert not pane.ids["key"].find_button.isVisible()  # a key is no ID the trace takes


class HeldLogsApi(LogsApi):
    """The real API, except that the detail of `held` waits until `release` is set: the
    order answers arrive in is then the test's, not the network's."""

    def __init__(self, client: ApiClient, held: str) -> None:
        super().__init__(client)
        self.held = held
        self.release = asyncio.Event()
        self.started: list[str] = []
        self.finished: list[str] = []  # calls that ended (answered, failed or cancelled)

    async def detail(self, request_id: str) -> LogDetail:
        self.started.append(request_id)
        try:
            if request_id == self.held:
                await self.release.wait()
            return await super().detail(request_id)
        finally:
            # The caller resumes in this same step: once this is seen, it has dealt
            # with the answer.
            self.finished.append(request_id)


def test_an_answer_for_an_entry_no_longer_shown_is_dropped(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, sandbox_url: str, keys: tuple[str, str]
) -> None:
    receipts = ingest(sandbox_url, keys[1], [BAD_ITEMS, GOOD_ITEMS])
    rejected, succeeded = _settled_entries(qtbot, sandbox_url, keys[0], receipts)
    client = ApiClient(sandbox_url, keys[0])
    api = HeldLogsApi(client, held=rejected.request_id)
    pane = LogDetailPane(api)
    qtbot.addWidget(pane)
    shown: list[str] = []
    pane.detail_shown.connect(shown.append)

    pane.show_entry(rejected)  # its answer is held back ...
    qtbot.waitUntil(lambda: rejected.request_id in api.started, timeout=5000)
    with qtbot.waitSignal(pane.detail_shown, timeout=10000):
        pane.show_entry(succeeded)  # ... while the user moved on
    api.release.set()
    # The held call ends (answered late, or cancelled when the pane moved on): either way
    # the pane keeps showing `succeeded`.
    qtbot.waitUntil(lambda: rejected.request_id in api.finished, timeout=10000)
    assert shown == [succeeded.request_id]
    assert pane.request_id == succeeded.request_id
    assert pane.request_body.toPlainText() == json.dumps(GOOD_ITEMS, indent=2)
    closing = asyncio.ensure_future(client.aclose())
    qtbot.waitUntil(closing.done, timeout=5000)


def test_a_failed_fetch_is_said_inline_and_the_fields_stay(
    qtbot: QtBot, pane: LogDetailPane, sandbox_url: str, keys: tuple[str, str]
) -> None:
    receipts = ingest(sandbox_url, keys[1], [BAD_ITEMS, GOOD_ITEMS])
    _rejected, succeeded = _settled_entries(qtbot, sandbox_url, keys[0], receipts)
    gone = dataclasses.replace(succeeded, request_id="req_" + "0" * 26)
    with qtbot.waitSignal(pane.detail_failed, timeout=10000):
        pane.show_entry(gone)
    assert pane.error.isVisible()
    assert "no longer keeps" in pane.error.text()
    assert QApplication.activeModalWidget() is None
    assert pane.value_buttons[Column.FEED].text() == FEED
    assert pane.ids["request"].value == gone.request_id
    pane.clear()
    assert not pane.error.isVisible()
    assert pane.ids["request"].value == ""
    assert not pane.value_buttons[Column.FEED].isEnabled()


def test_bodies_are_pretty_when_json_raw_otherwise_and_say_base64_and_cuts() -> None:
    pretty = format_body('{"a":[1,2],"b":"\\u00e9"}')
    assert pretty.is_json
    assert pretty.text == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": "é"\n}'
    assert not pretty.note
    broken = format_body('[{"id": 1}, {"id": 2')
    assert (broken.is_json, broken.text) == (False, '[{"id": 1}, {"id": 2')
    assert "Not valid JSON" in broken.note
    not_finite = format_body('{"x": NaN}')
    assert not not_finite.is_json  # NaN is not JSON: shown as received
    deep = format_body("[" * 100_000 + "]" * 100_000)
    assert not deep.is_json  # no recursion on user data beyond json's own limit
    binary = format_body("AAEC/w==", encoding="base64")
    assert binary.text == "AAEC/w=="
    assert "base64" in binary.note
    cut = format_body('[{"id": 1}', truncated=True, total_bytes=70_000)
    assert "70,000 bytes" in cut.note
    assert cut.note == "First 10 bytes of 70,000 bytes (cut)."
    huge = format_body("x" * (MAX_BODY_CHARS + 10))
    assert len(huge.text) == MAX_BODY_CHARS
    assert huge.note == "First 256 KiB (cut)."
    assert format_body(None).note == "No body kept."


def test_a_deeply_nested_body_is_shown_as_received_not_blown_up_by_indenting() -> None:
    # 64 KiB of valid JSON nested 900 deep would indent to ~58 MB (seconds, frozen pane).
    one = "[" * 900 + "]" * 900
    body = "[" + ",".join([one] * 36) + "]"
    shown = format_body(body)
    assert not shown.is_json
    assert shown.text == body
    assert "Too deeply nested" in shown.note
    nested_ok = format_body('{"a":' * 20 + "1" + "}" * 20)
    assert nested_ok.is_json
    wide = (
        "["
        + ",".join(["[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"] * 4000)
        + "]"
    )
    assert len(format_body(wide).text) <= MAX_FORMATTED_CHARS


def test_the_timeline_gives_each_step_its_time_and_the_gap_since_the_previous() -> None:
    rows = timeline_rows(
        (
            LogEvent(100.0, "received", "POST /api/ingest"),
            LogEvent(100.002, "queued", None),
            LogEvent(100.5, "processing", None),
            LogEvent(101.75, "succeeded", "2 items done"),
        )
    )
    assert [(r[0], r[2]) for r in rows] == [
        ("received", "—"),
        ("queued", "2 ms"),
        ("processing", "498 ms"),
        ("succeeded", "1.25 s"),
        ("total", "1.75 s"),
    ]
    assert rows[0][3] == "POST /api/ingest"


def test_a_body_cut_at_64_kib_is_laid_out_as_far_as_it_goes_and_said_neutrally(
    qtbot: QtBot, pane: LogDetailPane, sandbox_url: str, keys: tuple[str, str]
) -> None:
    from console.ui.logs.detail import NOTE_NEUTRAL

    items = [{"id": f"big-{n:05d}", "sku": "S" * 20, "lines": [{"qty": n}]} for n in range(4200)]
    total = len(json.dumps(items).encode())
    assert total > 64 * 1024
    [receipt] = ingest(sandbox_url, keys[1], [items])
    assert isinstance(receipt, IngestReceipt)
    qtbot.waitUntil(
        lambda: any(e.request_id == receipt.request_id for e in server_entries(
            sandbox_url, keys[0], feed=FEED
        )),
        timeout=15000,
    )  # fmt: skip
    [entry] = [
        e for e in server_entries(sandbox_url, keys[0], feed=FEED)
        if e.request_id == receipt.request_id
    ]  # fmt: skip
    with qtbot.waitSignal(pane.detail_shown, timeout=10000):
        pane.show_entry(entry)
    assert pane.detail is not None
    assert pane.detail.request_truncated
    note = pane.request_note.text()
    assert "Not valid JSON" not in note
    assert note == f"First 64 KiB of {pane.detail.request_bytes:,} bytes (cut)."
    assert pane.request_note.styleSheet() == NOTE_NEUTRAL
    text = pane.request_body.toPlainText()
    lines = text.splitlines()
    # Laid out as json.dumps(indent=2) lays out the whole, as far as the cut.
    whole = json.dumps(items, indent=2).splitlines()
    assert lines[:-1] == whole[: len(lines) - 1]
    assert len(lines) > 1000
    assert max(len(line) for line in lines) < 200
    # A body that is whole but not JSON still says so, as a warning.
    assert format_body("{nope").note.startswith("Not valid JSON")
    assert not format_body("{nope").neutral


def test_a_cut_body_too_large_to_indent_gets_a_line_per_top_level_item() -> None:
    from console.ui.logs.detail import indent_cut_json

    one = "[" * 60 + "1" + "]" * 60
    body = ("[" + ",".join([one] * 4000))[: 64 * 1024]
    assert indent_cut_json(body) is None  # past MAX_FORMATTED_CHARS
    shown = format_body(body, truncated=True, total_bytes=500_000)
    assert shown.neutral
    assert shown.text.splitlines()[1] == "  " + one + ","
    assert len(shown.text) <= MAX_FORMATTED_CHARS


def test_a_long_id_is_cut_in_the_middle_with_an_ellipsis_and_whole_in_tooltip_and_copy(
    qtbot: QtBot, pane: LogDetailPane, sandbox_url: str, keys: tuple[str, str]
) -> None:
    idem = "ic1:invoices:28d4f0a1b2c3d4e5f6a7b8c9d0e1f2a3"
    [receipt] = ingest(sandbox_url, keys[1], [GOOD_ITEMS], idempotency_keys=[idem])
    assert isinstance(receipt, IngestReceipt)
    [entry] = [
        e
        for e in server_entries(sandbox_url, keys[0], feed=FEED)
        if e.request_id == receipt.request_id
    ]
    with qtbot.waitSignal(pane.detail_shown, timeout=10000):
        pane.show_entry(entry)
    row = pane.ids["idempotency"]
    pane.resize(380, 900)
    qtbot.waitUntil(lambda: row.label.width() < row.label.fontMetrics().horizontalAdvance(idem))
    shown = row.label.shown_text()
    assert "…" in shown  # cut visibly, not clipped
    head, tail = shown.split("…")
    assert idem.startswith(head)
    assert idem.endswith(tail)
    assert head
    assert tail
    assert row.label.toolTip().startswith(idem + "\n")
    row.copy_button.click()
    assert QGuiApplication.clipboard().text() == idem
    pane.resize(1400, 900)
    qtbot.waitUntil(lambda: row.label.shown_text() == idem)
