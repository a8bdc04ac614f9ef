"""GUI fixtures: one qasync loop for the session (never stopped), a connected window."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from console.config.profiles import ConnectionProfile, SettingsStore
from console.config.secrets import SecretStore, profile_account

PROFILE = "Test sandbox"


@pytest.fixture(scope="session")
def qloop(qapp: Any) -> asyncio.AbstractEventLoop:
    """The app's qasync loop, marked running for the whole session (STACK_NOTES 3)."""
    import qasync

    loop = qasync.QEventLoop(qapp, already_running=True)
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
def window(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    secrets: SecretStore,
    settings_store: SettingsStore,
    sandbox_url: str,
    admin_key: str,
) -> Iterator[Any]:
    """A MainWindow connected, through a saved profile, to a fresh account on the sandbox."""
    from console.ui.main_window import MainWindow

    settings = settings_store.load()
    settings.upsert(ConnectionProfile(PROFILE, base_url=sandbox_url))
    settings.active_profile = PROFILE
    settings_store.save(settings)
    secrets.set(profile_account(PROFILE), admin_key)
    main = MainWindow(secrets, settings_store)
    main.resize(1280, 800)
    main.show()
    with qtbot.waitSignal(main.keys_tab.keys_loaded, timeout=15000):
        main.connect_profile(settings.profile(PROFILE))  # type: ignore[arg-type]
    yield main
    shutdown = asyncio.ensure_future(main.shutdown())
    qtbot.waitUntil(shutdown.done, timeout=15000)
    shutdown.result()
    main.close()
    main.deleteLater()
