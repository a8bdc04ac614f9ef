"""`--screenshots DIR`: one PNG of each tab, as a user would see it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from console.common.redaction import redact_secrets
from console.ui.logs.tab import IngestLogsTab
from console.ui.main_window import MainWindow
from console.ui.pipelines.definition_panel import DefinitionPanel
from console.ui.pipelines.tab import PipelinesTab
from console.ui.records.tab import RecordsTab
from console.ui.tasks import signal_future


class SecretOnScreenError(RuntimeError):
    """A screenshot would have shown a full key; nothing was saved."""


def visible_texts(root: QWidget) -> list[str]:
    """Every text a grab of `root` can show: labels, fields, buttons, visible table cells."""
    texts: list[str] = [root.windowTitle()]
    for widget in [root, *root.findChildren(QWidget)]:
        if not widget.isVisibleTo(root) or (widget is not root and widget.isWindow()):
            continue
        for name in ("text", "placeholderText", "currentText", "toolTip"):
            getter = getattr(widget, name, None)
            if callable(getter):
                try:
                    texts.append(str(getter()))
                except TypeError:
                    continue
        if isinstance(widget, QHeaderView) and widget.model() is not None:
            # A header shows its sections' titles, not the cells of the model it shares.
            model = widget.model()
            extent = (
                widget.viewport().width()
                if widget.orientation() == Qt.Orientation.Horizontal
                else widget.viewport().height()
            )
            for section in _sections_in_view(widget, extent, widget.count()):
                texts.append(str(model.headerData(section, widget.orientation())))
        elif isinstance(widget, QAbstractItemView) and widget.model() is not None:
            model = widget.model()
            rows, columns = _cells_in_view(widget)
            for row in rows:
                for column in columns:
                    texts.append(str(model.index(row, column).data(Qt.ItemDataRole.DisplayRole)))
    return texts


def _cells_in_view(view: QAbstractItemView) -> tuple[list[int], list[int]]:
    """The rows and columns a grab of `view` can show: a table's, those in its viewport
    (a page of a 1,000-row log is ~25 rows: reading every cell cost ~20-50 ms a tab);
    any other view's, all of them. The console's tables span no cells (a span anchored
    above the viewport would show text from a row not read here)."""
    model = view.model()
    rows, columns = list(range(model.rowCount())), list(range(model.columnCount()))
    if not isinstance(view, QTableView):
        return rows, columns
    viewport = view.viewport()
    return (
        _sections_in_view(view.verticalHeader(), viewport.height(), len(rows)),
        _sections_in_view(view.horizontalHeader(), viewport.width(), len(columns)),
    )


def _sections_in_view(header: QHeaderView, extent: int, count: int) -> list[int]:
    """The logical indexes of the sections between 0 and `extent` of the viewport, in
    their visual order (a moved column is where it shows)."""
    # -1: no section there (past the last one, or nothing laid out yet): from the first
    # / up to the last, so an unsure answer reads more cells, never fewer.
    first, last = header.visualIndexAt(0), header.visualIndexAt(extent - 1)
    visual = range(max(first, 0), last + 1 if last >= 0 else count)
    return [header.logicalIndex(index) for index in visual]


def assert_no_secret_on_screen(root: QWidget) -> None:
    """Raise SecretOnScreenError if any visible text holds an unmasked key."""
    for text in visible_texts(root):
        if redact_secrets(text) != text:
            shown = redact_secrets(text)
            raise SecretOnScreenError(
                f"refusing to save a screenshot: the window shows a full key ({shown})"
            )


class ScreenshotTimeoutError(TimeoutError):
    """What a screenshot waited for did not happen in time; nothing more was saved."""


async def _within(waiting: Awaitable[object], seconds: float, what: str) -> None:
    try:
        await asyncio.wait_for(waiting, seconds)
    except TimeoutError:
        raise ScreenshotTimeoutError(f"{what} within {seconds:g} s") from None


class _PaintWatcher(QObject):
    """Resolves a future at the next paint of one widget."""

    def __init__(self, widget: QWidget, painted: asyncio.Future[None]) -> None:
        super().__init__(widget)
        self.painted = painted

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Note the paint; never consume it."""
        if event.type() == QEvent.Type.Paint and not self.painted.done():
            self.painted.set_result(None)
        return False


async def wait_for_paint(widget: QWidget, seconds: float = 10.0) -> None:
    """Ask `widget` to repaint and return once it has (the loop keeps running meanwhile)."""
    painted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    watcher = _PaintWatcher(widget, painted)
    widget.installEventFilter(watcher)
    try:
        widget.update()
        await _within(painted, seconds, f"{widget.objectName() or 'the tab'} did not paint")
    finally:
        widget.removeEventFilter(watcher)
        watcher.deleteLater()


async def wait_until_settled(panel: DefinitionPanel, seconds: float = 10.0) -> None:
    """Return once the definition panel's checks have answered for the text it shows."""

    async def settled() -> None:
        while not panel.is_settled:
            await signal_future(panel.settled)

    await _within(settled(), seconds, "the definition's validation did not settle")


async def wait_for_pipelines(tab: PipelinesTab, seconds: float) -> None:
    """The list loaded, the selected pipeline's definition shown and validated."""
    if not tab.has_loaded:
        loaded = signal_future(tab.pipelines_loaded)
        await _within(loaded, seconds, "the pipelines list did not load")
    await wait_until_settled(tab.panel, seconds)


async def wait_for_records(window: MainWindow, seconds: float) -> None:
    """The feeds listed, the chosen feed's first page and the selected record shown.

    A failure ends the wait too: the banner is worth a screenshot.
    """
    tab = window.records_tab

    async def settled() -> None:
        while not tab.is_settled and not window.banner.isVisible():
            await signal_future(tab.settled, window.runner.failed)

    await _within(settled(), seconds, "the records did not load")


async def wait_for_ingest_logs(window: MainWindow, seconds: float) -> None:
    """The chosen time range loaded and shown (table, histogram, error groups).

    A failure ends the wait too: the banner is worth a screenshot.
    """
    tab = window.logs_tab

    async def settled() -> None:
        while not tab.is_settled and not window.banner.isVisible():
            await signal_future(
                tab.loaded, tab.view_applied, tab.summaries_shown, window.runner.failed
            )

    await _within(settled(), seconds, "the log entries did not load")
    detail = tab.detail
    if detail is not None and detail.fetching and not window.banner.isVisible():
        # The current entry's bodies and timeline, not "Loading detail…".
        shown = signal_future(detail.detail_shown, detail.detail_failed)
        await _within(shown, seconds, "the log entry's detail did not load")


def _write_png(image: QImage, path: Path) -> bool:
    # The format comes from the ".png" suffix (PySide's stubs and runtime disagree
    # about the type of an explicit one).
    return image.save(str(path))


async def save_tab_screenshots(
    window: MainWindow, directory: Path, load_wait: float = 30.0
) -> list[Path]:
    """Wait for each tab's data and paint, then grab it at the window's size.

    Every wait is bounded and a timeout fails with what was missing, so a screenshot
    never shows a half-loaded tab.
    """
    directory.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, microseconds)
    # An error banner is worth a screenshot too: a failure ends the wait like data does.
    if window.keys_tab.model.rowCount() == 0:  # the console's own key is always listed
        keys = signal_future(window.keys_tab.keys_loaded, window.runner.failed)
        await _within(keys, load_wait, "the keys did not load")
    if not window.banner.isVisible():  # after a failure, no more data is coming
        await wait_for_pipelines(window.pipelines_tab, load_wait)
    saved = []
    # PNG encoding (~30-50 ms a tab) runs in worker threads (Qt releases the GIL
    # there) while the next tab is shown and grabbed; every save is awaited, even
    # after a failure, so no half-written file is left behind.
    loop = asyncio.get_running_loop()
    writes: list[asyncio.Future[bool]] = []
    with ThreadPoolExecutor(2, thread_name_prefix="screenshot") as encoder:
        try:
            for index in range(window.tabs.count()):
                window.tabs.setCurrentIndex(index)
                page = window.tabs.currentWidget()
                assert page is not None
                # Layout and paint run through the loop; processEvents() here would
                # re-enter other tasks from inside this one.
                await wait_for_paint(page, load_wait)
                if page is window.pipelines_tab and not window.banner.isVisible():
                    await wait_until_settled(window.pipelines_tab.panel, load_wait)
                if isinstance(page, RecordsTab) and not window.banner.isVisible():
                    # Showing the tab started its loads; the table paints once they answer.
                    await wait_for_records(window, load_wait)
                    await wait_for_paint(page, load_wait)
                if isinstance(page, IngestLogsTab) and not window.banner.isVisible():
                    await wait_for_ingest_logs(window, load_wait)
                    await wait_for_paint(page, load_wait)
                slug = re.sub(r"[^a-z0-9]+", "-", window.tabs.tabText(index).lower()).strip("-")
                path = directory / f"{index + 1:02d}-{slug}.png"
                assert_no_secret_on_screen(window)
                image = window.grab().toImage()  # a QImage may be used in another thread
                writes.append(loop.run_in_executor(encoder, _write_png, image, path))
                saved.append(path)
            # Every tab is grabbed: the production connection is made while their PNGs
            # encode (~70 ms of the other core), and its own PNG encodes alongside.
            path = directory / PRODUCTION_BAND_PNG
            image = await production_band_image(window, load_wait)
            writes.append(loop.run_in_executor(encoder, _write_png, image, path))
            saved.append(path)
        finally:
            written = await asyncio.gather(*writes, return_exceptions=True)
    for path, ok in zip(saved, written, strict=True):
        if isinstance(ok, BaseException):
            raise ok
        if not ok:
            raise OSError(f"could not write {path}")
    return saved


PRODUCTION_BAND_PNG = "05-production-band.png"


async def production_band_image(window: MainWindow, load_wait: float = 30.0) -> QImage:
    """The window connected as a production profile: its red band (read-only), the
    picker's badge and the write buttons disabled, on the API Keys tab.

    A connection that is not production already is made again to the same server as
    `--url` makes it (production by default), so the picture is the real thing, not a
    mock-up; the window stays on that connection.
    """
    window.tabs.setCurrentIndex(0)  # before connecting: hidden tabs load when shown
    client = window.session.client
    profile = window.session.profile
    if client is not None and profile is not None and profile.environment != "production":
        ready = signal_future(window.connection_ready, window.connection_failed)
        # The connection's own key, in memory only: never shown, never saved.
        window.connect_url(client.base_url, client._api_key, "production")
        await _within(ready, load_wait, "the production connection did not answer")
    await wait_for_paint(window.keys_tab, load_wait)
    assert_no_secret_on_screen(window)
    return window.grab().toImage()


async def save_production_band_screenshot(
    window: MainWindow, directory: Path, load_wait: float = 30.0
) -> Path:
    """`production_band_image`, saved as PRODUCTION_BAND_PNG in `directory`."""
    image = await production_band_image(window, load_wait)
    path = directory / PRODUCTION_BAND_PNG
    if not _write_png(image, path):  # one PNG, ~40 ms
        raise OSError(f"could not write {path}")
    return path
