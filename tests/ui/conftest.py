"""GUI fixtures: one qasync loop for the session (never stopped), a connected window."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from console.config.drafts import DraftStore
from console.config.profiles import ConnectionProfile, SettingsStore
from console.config.secrets import SecretStore, profile_account

PROFILE = "Test sandbox"


@pytest.fixture(scope="session")
def qloop(qapp: Any) -> asyncio.AbstractEventLoop:
    """The app's qasync loop, marked running for the whole session (STACK_NOTES 3)."""
    import qasync

    loop = qasync.QEventLoop(qapp, already_running=True)
    # asyncio.to_thread would otherwise start qasync's QThreadExecutor, whose threads are
    # still running when the never-closed test loop is dropped at exit: Qt then aborts
    # the process ("QThread: Destroyed while thread is still running", exit code 134).
    loop.set_default_executor(
        concurrent.futures.ThreadPoolExecutor(thread_name_prefix="test-loop-default")
    )
    asyncio.set_event_loop(loop)
    return loop


@pytest.fixture
def secrets(file_keyring: Any) -> SecretStore:
    """A SecretStore over the test's file keyring."""
    return SecretStore(backend=file_keyring)


@pytest.fixture
def settings_store(tmp_path: Path) -> SettingsStore:
    """Settings in the test's temp dir."""
    return SettingsStore(tmp_path / "config" / "settings.json")


@pytest.fixture
def make_window(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    secrets: SecretStore,
    settings_store: SettingsStore,
    tmp_path: Path,
) -> Iterator[Callable[[str, str], Any]]:
    """Open MainWindows connected, through a saved profile, to `base_url` with `key`."""
    from console.ui.main_window import MainWindow

    opened: list[MainWindow] = []

    def make(base_url: str, key: str) -> MainWindow:
        settings = settings_store.load()
        settings.upsert(ConnectionProfile(PROFILE, base_url=base_url), old_name=PROFILE)
        settings.active_profile = PROFILE
        settings_store.save(settings)
        secrets.set(profile_account(PROFILE), key)
        main = MainWindow(secrets, settings_store, drafts=DraftStore(tmp_path / "drafts"))
        opened.append(main)
        main.resize(1280, 800)
        main.show()
        with qtbot.waitSignal(main.keys_tab.keys_loaded, timeout=15000):
            main.connect_profile(settings.profile(PROFILE))  # type: ignore[arg-type]
        # Connected means every load the connection started has answered (the pipelines
        # list and the editor's catalogue too): a test then acts on a settled window, and
        # e.g. rotating the console's own key cannot race a load still in flight.
        qtbot.waitUntil(lambda: main.runner.running == 0, timeout=15000)
        return main

    yield make
    for main in opened:
        shutdown = asyncio.ensure_future(main.shutdown())
        qtbot.waitUntil(shutdown.done, timeout=15000)
        shutdown.result()
        main.close_keeping_drafts()
        main.deleteLater()


@pytest.fixture
def window(make_window: Callable[[str, str], Any], sandbox_url: str, admin_key: str) -> Any:
    """A MainWindow connected to a fresh account on the shared sandbox."""
    return make_window(sandbox_url, admin_key)
