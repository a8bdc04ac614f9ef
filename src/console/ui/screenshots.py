"""`--screenshots DIR`: one PNG of each tab, as a user would see it."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QWidget

from console.common.redaction import redact_secrets
from console.ui.main_window import MainWindow
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
        if isinstance(widget, QAbstractItemView) and widget.model() is not None:
            model = widget.model()
            for row in range(model.rowCount()):
                for column in range(model.columnCount()):
                    texts.append(str(model.index(row, column).data(Qt.ItemDataRole.DisplayRole)))
    return texts


def assert_no_secret_on_screen(root: QWidget) -> None:
    """Raise SecretOnScreenError if any visible text holds an unmasked key."""
    for text in visible_texts(root):
        if redact_secrets(text) != text:
            shown = redact_secrets(text)
            raise SecretOnScreenError(
                f"refusing to save a screenshot: the window shows a full key ({shown})"
            )


async def save_tab_screenshots(
    window: MainWindow, directory: Path, load_wait: float = 30.0
) -> list[Path]:
    """Wait for the keys to load, then grab every tab at the window's size."""
    directory.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, microseconds)
    # An error banner is worth a screenshot too: a failure ends the wait like data does.
    await asyncio.wait_for(
        signal_future(window.keys_tab.keys_loaded, window.runner.failed), load_wait
    )
    pipelines = window.pipelines_tab
    with contextlib.suppress(TimeoutError):  # a slow list is shown as it stands
        if not pipelines.has_loaded:
            await asyncio.wait_for(signal_future(pipelines.pipelines_loaded), load_wait)
        if pipelines.model.rowCount() and pipelines.panel.pipeline is None:
            # The first pipeline is being opened in the editor: show it, not an empty pane.
            await asyncio.wait_for(signal_future(pipelines.panel.loaded), load_wait)
    saved = []
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        # Let layout and paint events run through the loop; processEvents() here would
        # re-enter other tasks from inside this one.
        await asyncio.sleep(0.05)
        slug = re.sub(r"[^a-z0-9]+", "-", window.tabs.tabText(index).lower()).strip("-")
        path = directory / f"{index + 1:02d}-{slug}.png"
        assert_no_secret_on_screen(window)
        if not window.grab().save(str(path), "PNG"):
            raise OSError(f"could not write {path}")
        saved.append(path)
    window.tabs.setCurrentIndex(0)
    return saved
