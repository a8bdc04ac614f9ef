"""Every interactive widget of every tab and dialog has an accessible name; Tab walks the
Keys tab and a dialog in reading order; the focus is visible.

The walk is generic: it visits every widget each window holds (hidden ones too), so a
control added later is checked without changing this test. Each dialog class the console
defines must be opened here (the last check says which one is missing)."""

from __future__ import annotations

import importlib
import itertools
import pkgutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QDialog, QPushButton, QWidget
from pytestqt.qtbot import QtBot

import console.ui
from console.api.keys import KeysApi
from console.api.transport import ApiClient
from console.definition.merge import merge
from console.ui.pipelines.dialogs import (
    UnsavedEditsBox,
    archive_box,
    discard_box,
    force_stop_box,
)
from console.ui.pipelines.merge_dialog import MergeDialog
from console.ui.records.dialogs import FetchDialog
from console.ui.trace.window import TraceWindow
from console.ui.widgets.confirm import TypedNameConfirmation
from tests.conftest import run
from tests.ui.accessibility import describe, nameless
from tests.ui.server_setup import create_keys, create_pipelines
from tests.ui.test_find_by_id import FEED, ingest, paste
from tests.ui.test_keyboard import _active, _focus
from tests.ui.test_logs_tab import open_logs
from tests.ui.test_records_tab import open_records
from tests.ui.test_selection_and_filters import _click_row, show_pipelines

pytestmark = pytest.mark.gui


class Walk:
    """The windows walked so far and what each lacked."""

    def __init__(self, qtbot: QtBot) -> None:
        self.qtbot = qtbot
        self.failures: dict[str, list[str]] = {}
        self.kinds: set[type[QWidget]] = set()

    def check(self, widget: QWidget | None, what: str) -> None:
        """Walk `widget` (shown, or about to be) and note its nameless controls."""
        assert widget is not None, f"{what} did not open"
        if isinstance(widget, QDialog) and not widget.isVisible():
            widget.open()  # built here rather than by the console
        self.qtbot.waitUntil(widget.isVisible, timeout=10000)
        self.kinds.add(type(widget))
        missing = nameless(widget)
        if isinstance(widget, QDialog):
            wrong = tab_order_problems(widget)
            if wrong:
                self.failures[f"{what}: Tab order"] = wrong
        if missing:
            self.failures[f"{what} ({type(widget).__name__})"] = missing

    def check_and_close(self, dialog: QWidget | None, what: str) -> None:
        """Walk a dialog, then close it."""
        self.check(dialog, what)
        assert dialog is not None
        if isinstance(dialog, QDialog):
            dialog.done(QDialog.DialogCode.Rejected)
        else:
            dialog.close()


ROW = 12  # px: controls whose tops are closer than this share a row


def _top_left(widget: QWidget, root: QWidget) -> tuple[int, int, int]:
    point = widget.mapTo(root, widget.rect().topLeft())
    return point.x(), point.y(), point.x() + widget.width()


def tab_order_problems(dialog: QWidget) -> list[str]:
    """Steps of Tab in `dialog` that go against reading order: each step goes right along
    a row, or down to a later row, or up only into a new column to the right."""
    takers = [
        w
        for w in dialog.findChildren(QWidget)
        if w.focusPolicy() & Qt.FocusPolicy.TabFocus
        and w.isVisible()
        and w.isEnabled()
        and w.window() is dialog
    ]
    if not takers:
        return []
    first = min(takers, key=lambda w: (_top_left(w, dialog)[1] // ROW, _top_left(w, dialog)[0]))
    chain = [w for w in _tab_walk(first, first.previousInFocusChain()) if w in takers]
    problems = []
    for a, b in itertools.pairwise(chain):
        ax, ay, a_right = _top_left(a, dialog)
        bx, by, _ = _top_left(b, dialog)
        same_row = abs(by - ay) < ROW
        ok = (bx > ax) if same_row else (by > ay or bx >= a_right)
        if not ok:
            problems.append(f"Tab goes from {describe(a)} back to {describe(b)}")
    if set(chain) != set(takers):
        problems.append(f"Tab never reaches {[describe(w) for w in set(takers) - set(chain)]}")
    return problems


def console_window_classes() -> set[type[QWidget]]:
    """Every dialog (and separate window) class the console defines."""
    for module in pkgutil.walk_packages(console.ui.__path__, "console.ui."):
        importlib.import_module(module.name)
    found: set[type[QWidget]] = {TraceWindow}
    pending: list[type[QWidget]] = [QDialog]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            pending.append(sub)
            if sub.__module__.startswith("console.ui."):
                found.add(sub)
    return found


@pytest.fixture
def walked_window(
    window: Any,
    qtbot: QtBot,
    sandbox_url: str,
    admin_key: str,
    account: str,
    mint_key: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> tuple[Any, str]:
    """A window with a key, a pipeline, a feed with a record and log entries of it."""
    monkeypatch.setenv("INTEGRATION_CONSOLE_HOME", str(tmp_path / "home"))
    mint_key(account, "ingest", FEED)
    receipt, _outcome = ingest(
        sandbox_url, admin_key, [{"id": "sku-1", "name": "Kettle"}], f"idem-{uuid.uuid4().hex}"
    )
    assert receipt.correlation_id is not None
    create_keys(sandbox_url, admin_key, ["Walked key"])
    return window, receipt.correlation_id


def test_every_interactive_widget_of_every_tab_and_dialog_has_an_accessible_name(
    qtbot: QtBot, walked_window: tuple[Any, str], sandbox_url: str, admin_key: str
) -> None:
    window, correlation_id = walked_window
    walk = Walk(qtbot)

    # The tabs, each loaded (the detail panes and editors built) --------------------
    keys = window.keys_tab
    with qtbot.waitSignal(keys.keys_loaded, timeout=10000):
        keys.refresh()
    _click_row(qtbot, keys.table, "Walked key")
    pipelines = create_pipelines(sandbox_url, admin_key, ["Walked pipeline"])
    pipelines_tab = show_pipelines(qtbot, window, pipelines)
    records = open_records(qtbot, window, FEED)
    assert records.model.rowCount() == 1
    records.table.selectRow(0)
    qtbot.waitUntil(lambda: records.current_record is not None, timeout=10000)
    qtbot.waitUntil(lambda: records.is_settled, timeout=15000)
    logs = open_logs(qtbot, window)
    logs.table.selectRow(0)
    qtbot.waitUntil(lambda: logs.detail is not None, timeout=10000)
    window.banner.show_error(RuntimeError("shown so its buttons are walked too"))
    walk.check(window, "main window")

    # Connections ------------------------------------------------------------------------
    walk.check_and_close(window.open_profiles_dialog(), "profiles")
    walk.check_and_close(window.open_bulk_ingest(), "bulk ingest")
    walk.check_and_close(window.open_palette(), "palette")
    walk.check_and_close(window.open_shortcuts_sheet(), "F1 sheet")

    # Keys -------------------------------------------------------------------------------
    window.tabs.setCurrentWidget(keys)
    keys.add_key()
    qtbot.waitUntil(lambda: getattr(keys, "add_dialog", None) is not None, timeout=10000)
    walk.check_and_close(keys.add_dialog, "add key")
    keys.rotate_selected()
    walk.check_and_close(keys.rotate_dialog, "rotate key")
    keys.revoke_selected()
    walk.check_and_close(keys.revoke_box, "revoke key")
    selected = keys.selected_key()
    assert selected is not None
    keys.renew(selected)
    walk.check_and_close(keys.renew_dialog, "renew key")
    walk.check_and_close(
        TypedNameConfirmation(
            window,
            "Revoke API key",
            "Revoke “Walked key”?",
            "Type its name.",
            "Revoke",
            "Walked key",
        ),
        "typed-name confirmation (production)",
    )

    async def create() -> Any:
        client = ApiClient(sandbox_url, admin_key)
        try:
            return await KeysApi(client).create("Shown once", "admin")
        finally:
            await client.aclose()

    keys._show_secret(run(create()), "Your new API key")
    secret = keys.secret_dialog
    walk.check(secret, "secret shown once")
    secret.stored_box.setChecked(True)
    secret.reject()

    # Pipelines ---------------------------------------------------------------------------
    panel = pipelines_tab.panel
    panel.editor.setPlainText(panel.editor.toPlainText().replace("Walked", "Walked, edited"))
    walk.check_and_close(panel.show_diff(), "diff")
    merged = merge({"a": 1, "b": 1}, {"a": 2, "b": 1}, {"a": 3, "b": 2})
    walk.check_and_close(
        MergeDialog(
            merged,
            "a: 2\nb: 1\n",
            name="Walked",
            base_revision=1,
            their_revision=2,
            parent=window,
        ),
        "merge on conflict",
    )
    shown = pipelines[0]
    for box, what in (
        (UnsavedEditsBox(window, shown.name), "unsaved edits"),
        (discard_box(window, shown.name, 1), "discard edits"),
        (force_stop_box(window, shown), "force stop"),
        (archive_box(window, shown), "archive pipeline"),
    ):
        walk.check_and_close(box, what)

    # Records ----------------------------------------------------------------------------
    window.tabs.setCurrentWidget(records)
    walk.check_and_close(records.new_record(), "new record")
    walk.check_and_close(records.edit_current(), "edit record")
    walk.check_and_close(FetchDialog(records.feed, many=True, parent=window), "fetch list")
    records.import_button.click()
    walk.check_and_close(records.import_dialog, "import records")
    records.export_button.click()
    walk.check_and_close(records.export_dialog, "export records")

    # Ingest Logs and Find by ID ----------------------------------------------------------
    window.tabs.setCurrentWidget(logs)
    walk.check_and_close(logs.open_export(), "export logs")
    paste(qtbot, window, correlation_id)
    walk.check_and_close(window.finder.windows[0], "trace window")

    assert walk.failures == {}, "\n".join(
        f"{what}: {widget}" for what, widgets in walk.failures.items() for widget in widgets
    )

    # Every dialog class of the console was opened above (a new one must be added here).
    missing = {
        cls.__qualname__
        for cls in console_window_classes()
        if not any(issubclass(kind, cls) for kind in walk.kinds)
    }
    assert missing == set()


def _tab_walk(start: QWidget, stop: QWidget, limit: int = 200) -> list[QWidget]:
    """The widgets Tab visits from `start` until `stop`, as the focus chain orders them."""
    order = [start]
    while order[-1] is not stop and len(order) < limit:
        order.append(order[-1].nextInFocusChain())
    return [w for w in order if w.focusPolicy() & Qt.FocusPolicy.TabFocus and w.isVisible()]


def _reading_order(widgets: list[QWidget], root: QWidget) -> list[QWidget]:
    """`widgets` top to bottom, then left to right (rows within half a line are one row)."""

    def key(widget: QWidget) -> tuple[int, int]:
        point = widget.mapTo(root, widget.rect().topLeft())
        return (point.y() // 12, point.x())

    return sorted(widgets, key=key)


def test_tab_walks_the_keys_tab_and_the_rotate_dialog_in_reading_order(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    keys = window.keys_tab
    create_keys(sandbox_url, admin_key, ["Tabbed"])
    with qtbot.waitSignal(keys.keys_loaded, timeout=10000):
        keys.refresh()
    _click_row(qtbot, keys.table, "Tabbed")
    _active(qtbot, window)
    _focus(qtbot, keys.search_edit)
    visited = [keys.search_edit]
    for _ in range(40):  # pressing Tab, as the user does, until the focus leaves the tab
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        focused = QApplication.focusWidget()
        if not keys.isAncestorOf(focused) or focused in visited:
            break
        visited.append(focused)
    in_tab = [w for w in visited if keys.isAncestorOf(w)]
    assert keys.table in in_tab  # the table, then the selected key's rotation panel
    assert len(in_tab) == len(set(in_tab))  # nothing visited twice
    assert in_tab == _reading_order(in_tab, keys)
    # Every control of the tab that takes Tab is on the way (none skipped).
    takers = {
        w
        for w in keys.findChildren(QWidget)
        if w.focusPolicy() & Qt.FocusPolicy.TabFocus and w.isVisible() and w.isEnabled()
    }
    assert takers <= set(in_tab)

    keys.rotate_selected()
    dialog = keys.rotate_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=5000)
    first = dialog.focusWidget() or dialog.nextInFocusChain()
    chain = _tab_walk(first, first.previousInFocusChain())
    chain = [w for w in chain if dialog.isAncestorOf(w) and w.isEnabled()]
    assert len(chain) >= 3
    assert chain == _reading_order(chain, dialog)
    dialog.reject()


def _grab_after(qtbot: QtBot, widget: QWidget, focused: bool) -> QImage:
    qtbot.waitUntil(lambda: widget.hasFocus() == focused, timeout=5000)
    widget.repaint()
    return widget.grab().toImage()


def test_tab_shows_where_the_focus_is_on_a_button_and_on_the_histogram(
    qtbot: QtBot, window: Any
) -> None:
    _active(qtbot, window)
    button: QPushButton = window.manage_button
    _focus(qtbot, window.profile_combo)
    before = _grab_after(qtbot, button, focused=False)
    qtbot.keyClick(window.profile_combo, Qt.Key.Key_Tab)  # keyboard focus: it must show
    after = _grab_after(qtbot, button, focused=True)
    assert before != after

    logs = window.logs_tab  # a custom-painted widget that takes Tab
    window.tabs.setCurrentWidget(logs)
    histogram = logs.histogram
    previous = histogram.previousInFocusChain()
    while not (
        previous.focusPolicy() & Qt.FocusPolicy.TabFocus
        and previous.isVisible()
        and previous.isEnabled()
    ):
        previous = previous.previousInFocusChain()
    _focus(qtbot, previous)
    before = _grab_after(qtbot, histogram, focused=False)
    qtbot.keyClick(previous, Qt.Key.Key_Tab)
    after = _grab_after(qtbot, histogram, focused=True)
    assert before != after
