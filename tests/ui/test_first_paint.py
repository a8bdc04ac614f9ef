"""The first paint builds and imports only what it shows; the rest follows at once after."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from pytestqt.qtbot import QtBot

from console.config.drafts import DraftStore
from console.config.profiles import SettingsStore
from console.config.secrets import SecretStore

# What the first paint must not pay for: the definition stack (YAML, the validator, the
# editor and its widgets), the Pipelines tab, the dialogs' modules, the rotating log
# file's handler, and what the start-up thread imports once the window has painted
# (keyring, httpx: imports share the GIL with the UI thread's).
DEFERRED = (
    "yaml",
    "difflib",
    "console.definition",
    "console.ui.pipelines",
    "console.ui.widgets.definition_editor",
    "console.ui.widgets.definition_completion",
    "console.ui.widgets.yaml_highlighter",
    "console.ui.widgets.live_validation",
    "console.ui.widgets.problems_list",
    "console.ui.profiles_dialog",
    "console.ui.keys.dialogs",
    "console.ui.logs",
    "console.logbuffer",
    "numpy",
    "console.api.pipelines",
    "console.api.catalog",
    "logging.handlers",
    "keyring",
    "httpx",
)


@pytest.mark.parametrize("mode", ["--url", "--sandbox"])
def test_the_first_paint_imports_none_of_the_deferred_modules(tmp_path: Path, mode: str) -> None:
    """The real entry point, stopped at its first paint; sys.modules is read at that mark."""
    if mode == "--url":
        # Port 9 (discard) refuses: the connection starts after the paint and fails.
        argv = ["--url", "http://127.0.0.1:9"]
    else:
        argv = ["--sandbox", "--data", str(tmp_path / "sandbox")]
    code = textwrap.dedent(
        f"""
        import os, sys, time
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        os.environ["INTEGRATION_CONSOLE_HOME"] = {str(tmp_path)!r}
        os.environ["INTEGRATION_CONSOLE_API_KEY"] = "fdk_" + "x" * 40
        os.environ["INTEGRATION_CONSOLE_BENCH_T0"] = repr(time.time())
        import console.app.main as console_main

        deferred = {DEFERRED!r}
        print_mark = console_main._mark_at

        def mark_at(name, when, t0):
            if name == "first-paint":
                early = sorted(
                    m for m in sys.modules
                    if any(m == d or m.startswith(d + ".") for d in deferred)
                )
                print("imported-before-first-paint", *early, flush=True)
            print_mark(name, when, t0)

        console_main._mark_at = mark_at
        console_main.main({argv!r} + ["--exit-after", "first-paint"])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [
        line.split()[1:]
        for line in result.stdout.splitlines()
        if line.startswith("imported-before-first-paint")
    ]
    assert lines == [[]], result.stdout


def _window(tmp_path: Path, file_keyring: Any) -> Any:
    from console.ui.main_window import MainWindow

    window = MainWindow(
        SecretStore(backend=file_keyring),
        SettingsStore(tmp_path / "settings.json"),
        drafts=DraftStore(tmp_path / "drafts"),
    )
    window.resize(1280, 800)
    return window


def test_the_other_tabs_are_built_in_the_turns_after_the_first_paint(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path, file_keyring: Any
) -> None:
    from console.ui.logs.tab import IngestLogsTab
    from console.ui.pipelines.tab import PipelinesTab
    from console.ui.records.tab import RecordsTab

    window = _window(tmp_path, file_keyring)
    qtbot.addWidget(window)
    assert not window.all_tabs_built
    with qtbot.waitSignal(window.first_painted, timeout=10000):
        window.show()
    assert not window.all_tabs_built  # the paint came first
    with qtbot.waitSignal(window.tabs_built, timeout=10000):
        pass
    pages = [window.tabs.widget(index) for index in range(window.tabs.count())]
    assert pages[0] is window.keys_tab
    assert isinstance(pages[1], PipelinesTab)
    assert isinstance(pages[2], RecordsTab)
    assert isinstance(pages[3], IngestLogsTab)
    assert window.logs_tab is pages[3]
    assert window.pipelines_tab is pages[1]
    assert [window.tabs.tabText(index) for index in range(4)] == [
        "API Keys",
        "Pipelines",
        "Records",
        "Ingest Logs",
    ]
    assert window.tabs.currentIndex() == 0


def test_a_tab_clicked_before_its_turn_is_built_at_once(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path, file_keyring: Any
) -> None:
    from console.ui.pipelines.tab import PipelinesTab
    from console.ui.records.tab import RecordsTab

    window = _window(tmp_path, file_keyring)
    qtbot.addWidget(window)
    window.show()
    changes: list[int] = []
    window.tabs.currentChanged.connect(changes.append)
    bar = window.tabs.tabBar()
    # Before any event is processed: nothing is painted, nothing deferred has run yet.
    assert not window.all_tabs_built
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(2).center())
    assert isinstance(window.tabs.currentWidget(), RecordsTab)
    assert window.tabs.currentWidget() is window.records_tab
    assert window.tabs.currentIndex() == 2
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(1).center() + QPoint(1, 0))
    assert isinstance(window.tabs.currentWidget(), PipelinesTab)
    assert window.tabs.currentWidget() is window.pipelines_tab
    assert changes == [2, 1]  # one change per click; the swaps are not heard
    with qtbot.waitSignal(window.tabs_built, timeout=10000):
        pass
    assert window.tabs.currentIndex() == 1
    assert changes == [2, 1]


def test_records_logged_before_the_log_file_opens_are_written_to_it(tmp_path: Path) -> None:
    import logging

    from console.app.logging_setup import configure_logging, hold_early_records

    early = hold_early_records()
    handler: logging.Handler | None = None
    try:
        logging.getLogger("console.test").info("before the first paint")
        logging.getLogger("console.test").debug("below the level")
        handler = configure_logging(tmp_path / "console.log", early=early)
        logging.getLogger("console.test").info("after it")
        handler.flush()
        lines = (tmp_path / "console.log").read_text().splitlines()
        assert [line.split(": ", 1)[1] for line in lines] == ["before the first paint", "after it"]
    finally:
        logging.getLogger().removeHandler(early)
        if handler is not None:
            handler.close()
