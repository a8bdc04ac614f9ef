"""Connecting again to the server in use (another profile, `--url`) keeps its connections."""

from __future__ import annotations

from typing import Any

from pytestqt.qtbot import QtBot


def test_a_production_reconnect_to_the_same_server_reuses_the_open_connections(
    qtbot: QtBot, window: Any, admin_key: str
) -> None:
    old = window.session.client
    pool = old.pool
    with qtbot.waitSignal(window.connection_ready, timeout=15000):
        window.connect_url(old.base_url, admin_key, "production")
    new = window.session.client
    assert new is not old
    assert window.session.profile.environment == "production"  # what the band shows
    assert new.pool is pool
    qtbot.waitUntil(lambda: not window.session._closing, timeout=10000)  # old one closed
    assert pool.is_open
    with qtbot.waitSignal(window.keys_tab.keys_loaded, timeout=10000):
        window.keys_tab.refresh()  # over the connections the first client opened
    assert window.keys_tab.model.rowCount() >= 1
