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


def test_switching_connections_ends_the_old_keys_live_stream_though_the_sockets_stay(
    qtbot: QtBot, window: Any, admin_key: str
) -> None:
    """Only sockets outlive a reconnect to the same server: the Ingest Logs tab's live
    stream, opened with the old connection's key, ends with it (it must not run on over
    the shared pool), and the tab's new tail, if any, reads through the new client."""
    tab = window.logs_tab
    with qtbot.waitSignal(tab.loaded, timeout=30000):
        window.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: tab.tail is not None and tab.tail.running, timeout=15000)
    old_tail, old_client = tab.tail, window.session.client
    old_stream = old_tail._stream_task
    assert old_stream is not None
    with qtbot.waitSignal(window.connection_ready, timeout=15000):
        window.connect_url(old_client.base_url, admin_key, "production")
    assert window.session.client is not old_client
    assert window.session.client.pool is old_client.pool  # the sockets are kept
    qtbot.waitUntil(old_stream.done, timeout=10000)
    assert not old_tail.running
    if tab.tail is not None:
        assert tab.tail is not old_tail
        assert tab.tail._refresher.logs._client is window.session.client
