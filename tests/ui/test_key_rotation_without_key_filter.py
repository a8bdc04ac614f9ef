"""The rotation panel on a server without the sandbox's `GET /logs?key=` filter: the real
sandbox behind tests/contract_logs.py, which ignores the parameter (its live stream then
carries every key's entries) or refuses it (400: no stream with it, so the panel polls),
and shows each entry's key as prefix…last4 only, as the contract's server does."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from console.api.keys import KeyUse
from tests.contract_logs import MODES, serve_without_key_filter
from tests.sandbox.logs_support import LiveApp

KEYS = "/api/public/v1/keys"
STILL_USED = "Still used just now by 127.0.0.1"

pytestmark = pytest.mark.gui


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(mode: str, tmp_path: Path) -> Iterator[LiveApp]:
    yield from serve_without_key_filter(tmp_path / "server", mode)


def test_the_old_key_in_grace_is_told_apart_by_its_last_four(
    qtbot: QtBot, server: LiveApp, mode: str, make_window: Callable[[str, str], Any]
) -> None:
    """Set up before the window, the server stops after it: its stream is closed first."""
    account_id, admin = server.account("admin")
    server.key(account_id, "ingest", feed="alpha")  # the feed (this key is not used)
    other = server.key(account_id, "ingest", feed="beta")
    with server.client(admin) as api:
        created = api.post(KEYS, json={"name": "Relay", "kind": "ingest", "feed": "alpha"})
        assert created.status_code == 201, created.text
        old = created.json()
        rotated = api.post(f"{KEYS}/{old['id']}/rotate", json={"grace_seconds": 3600})
        assert rotated.status_code == 201, rotated.text
    window = make_window(server.url, admin)
    panel = window.keys_tab.rotation_panel
    uses: list[KeyUse | None] = []
    panel.use_shown.connect(uses.append)
    assert window.keys_tab.select_key(old["id"])
    qtbot.waitUntil(lambda: panel.verdict() != "", timeout=10000)
    assert panel.verdict() == "No use since rotation — safe to revoke"
    assert not panel.error_label.text()
    if mode == "ignore":  # the stream opens, without the filter
        qtbot.waitUntil(lambda: panel.watching, timeout=10000)

    def ingest(secret: str, item: dict[str, str]) -> None:
        with server.client(secret) as http:
            assert http.post("/api/ingest", json=item).status_code == 202

    ingest(old["secret"], {"id": "a-1"})
    # Live (ignore: the stream, every key's entries, this key's kept) or polled (refuse).
    qtbot.waitUntil(lambda: panel.verdict() == STILL_USED, timeout=10000)
    assert "feed alpha" in panel.use_label.text()
    # Another key's entry holding the old key's last four: never the old key's use.
    ingest(other, {"id": "b-1", "note": old["last4"]})
    before = time.time()
    ingest(old["secret"], {"id": "a-2"})
    qtbot.waitUntil(
        lambda: bool(uses) and uses[-1] is not None and uses[-1].at >= before - 0.01,
        timeout=10000,
    )
    assert {use.feed for use in uses if use is not None and use.from_logs} == {"alpha"}
    assert panel.verdict() == STILL_USED
    assert panel.watching == (mode == "ignore")  # refused: polled, no stream
    assert not panel.error_label.text()
    assert not window.banner.isVisibleTo(window)
