"""A 429 is waited out with Retry-After while the window keeps responding."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QTimer
from pytestqt.qtbot import QtBot

from console.api.transport import RetryWait
from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import mint_key


def test_rate_limited_refresh_waits_and_succeeds_while_ui_stays_responsive(
    qtbot: QtBot,
    make_window: Callable[[str, str], Any],
    make_sandbox: Callable[..., SandboxProcess],
) -> None:
    # Connecting makes 5 requests (what the server offers, from its /openapi.json; keys,
    # pipelines, connections, hooks: no probe first) and the two refreshes below 2 more:
    # the next refresh is the first one over the limit.
    server = make_sandbox(demo=False, rate_limit="7/5")
    key = mint_key(server.data_dir, account="limited", kind="admin", name="Console")
    assert server.base_url
    window = make_window(server.base_url, key)
    tab = window.keys_tab
    qtbot.waitUntil(lambda: window.pipelines_tab.panel.catalog is not None, timeout=10000)
    for _ in range(2):
        with qtbot.waitSignal(tab.keys_loaded, timeout=10000):
            tab.refresh()

    ticks: list[int] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    with qtbot.waitSignal(window.session.retry_waiting, timeout=10000) as waiting:
        tab.refresh()  # the seventh request in the window: 429
    wait = waiting.args[0]
    assert isinstance(wait, RetryWait)
    assert wait.seconds >= 1
    assert "Rate limited: retrying in" in window.status.rate_label.text()

    # While the client sleeps out Retry-After, the window handles input and timers.
    ticks.clear()
    qtbot.keyClicks(tab.search_edit, "Cons")
    assert tab.proxy.rowCount() == 1
    with qtbot.waitSignal(tab.keys_loaded, timeout=int(wait.seconds * 1000) + 10000):
        pass
    timer.stop()
    assert len(ticks) >= 10, "the event loop stalled during the wait"
    assert not window.banner.isVisible()
    assert "Rate limit" in window.status.rate_label.text()
    assert "retrying" not in window.status.rate_label.text()
