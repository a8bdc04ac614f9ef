"""Connecting: the tabs' first real requests tell whether the key works (no probe first)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from console.api.transport import RequestOutcome
from console.config.drafts import DraftStore
from console.config.profiles import ConnectionProfile, SettingsStore
from console.config.secrets import SecretStore, profile_account

KEYS = "/api/public/v1/keys"


@pytest.fixture
def connect(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    secrets: SecretStore,
    settings_store: SettingsStore,
    tmp_path: Path,
    sandbox_url: str,
) -> Iterator[Any]:
    """Connect a new window to the shared sandbox with a key; record every exchange."""
    from console.ui.main_window import MainWindow

    windows: list[MainWindow] = []

    def open_with(key: str) -> tuple[MainWindow, list[RequestOutcome]]:
        settings = settings_store.load()
        settings.upsert(ConnectionProfile("Probe test", base_url=sandbox_url))
        settings_store.save(settings)
        secrets.set(profile_account("Probe test"), key)
        window = MainWindow(secrets, settings_store, drafts=DraftStore(tmp_path / "drafts"))
        windows.append(window)
        seen: list[RequestOutcome] = []
        window.session.request_finished.connect(seen.append)
        window.connect_profile(window.settings.profile("Probe test"))  # type: ignore[arg-type]
        return window, seen

    yield open_with
    for window in windows:
        shutdown = asyncio.ensure_future(window.shutdown())
        qtbot.waitUntil(shutdown.done, timeout=15000)
        window.close_keeping_drafts()
        window.deleteLater()


def test_connecting_sends_no_probe_before_the_real_requests(
    qtbot: QtBot, connect: Any, admin_key: str
) -> None:
    window, seen = connect(admin_key)
    with qtbot.waitSignal(window.connection_ready, timeout=15000):
        pass
    qtbot.waitUntil(lambda: window.pipelines_tab.panel.catalog is not None, timeout=10000)
    assert [o.path for o in seen if o.path == KEYS] == [KEYS]  # the list itself, once
    assert all(o.status == 200 for o in seen)
    assert "Connected to Probe test" in window.status.connection_label.text()


def test_a_refused_key_turns_the_connection_offline_with_the_reason(
    qtbot: QtBot, connect: Any
) -> None:
    window, seen = connect("fdk_" + "Q" * 40)
    qtbot.waitUntil(lambda: "Probe test:" in window.status.connection_label.text(), timeout=10000)
    assert any(o.path == KEYS and o.status == 401 for o in seen)
    assert "Connected" not in window.status.connection_label.text()
    assert window.banner.isVisibleTo(window)
    assert "401" in window.banner.headline.text()
    # The reason is said once: in the banner, not again in the status bar.
    from console.ui.screenshots import visible_texts

    shown = "\n".join(visible_texts(window))
    assert shown.count("The API key is invalid, revoked or expired.") == 1


def test_a_refused_key_says_the_pipelines_could_not_load(qtbot: QtBot, connect: Any) -> None:
    window, _seen = connect("fdk_" + "Q" * 40)
    tab = window.pipelines_tab
    qtbot.waitUntil(lambda: window.runner.running == 0, timeout=10000)  # every load answered
    assert tab.summary_label.text() == "Could not load pipelines: see the message above."
    assert window.keys_tab.summary_label.text() == "Could not load keys: see the message above."
