"""The newest connection choice wins: an attempt the user backed out of never takes over."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from console.config.secrets import SecretStore
from tests.slow_server import SlowServer
from tests.ui.conftest import PROFILE
from tests.ui.test_connection_picker import WRONG_KEY, _add_profile, _choose_in_picker


def _status(window: Any) -> str:
    return str(window.status.connection_label.text())


def test_choosing_the_connected_profile_again_gives_up_a_slow_connect(
    qtbot: QtBot, window: Any, secrets: SecretStore, slow_server: SlowServer
) -> None:
    connected_text = _status(window)
    assert connected_text.startswith("Connected to")
    failures: list[object] = []
    window.connection_failed.connect(lambda *args: failures.append(args))
    _add_profile(window, secrets, "Slow host", slow_server.url, WRONG_KEY)

    _choose_in_picker(window, "Slow host")
    qtbot.waitUntil(lambda: slow_server.requests == 1, timeout=10000)  # on the wire
    assert _status(window) == "Connecting to Slow host… (Esc to cancel)"
    attempt = window._connect_task

    _choose_in_picker(window, PROFILE)  # never mind: stay where I am
    assert _status(window) == connected_text
    assert window.profile_combo.currentText() == PROFILE
    qtbot.waitUntil(attempt.done, timeout=5000)
    assert attempt.cancelled()

    # The slow server answers after all: nothing of it reaches the window.
    slow_server.release.set()
    qtbot.waitUntil(slow_server.answered.is_set, timeout=10000)
    qtbot.waitUntil(lambda: window.runner.running == 0, timeout=10000)
    assert window.session.profile.name == PROFILE
    assert window.profile_combo.currentText() == PROFILE
    assert _status(window) == connected_text
    assert not window.banner.isVisible()
    assert failures == []
    assert window.keys_tab.model.rowCount() > 0


def test_escape_gives_up_a_connect_that_never_answers(
    qtbot: QtBot, window: Any, secrets: SecretStore, slow_server: SlowServer
) -> None:
    connected_text = _status(window)
    _add_profile(window, secrets, "Silent host", slow_server.url, WRONG_KEY)
    _choose_in_picker(window, "Silent host")
    qtbot.waitUntil(lambda: slow_server.requests == 1, timeout=10000)
    attempt = window._connect_task

    qtbot.keyClick(window.profile_combo, Qt.Key.Key_Escape)
    assert _status(window) == connected_text
    qtbot.waitUntil(attempt.done, timeout=5000)
    assert attempt.cancelled()
    assert not window.banner.isVisible()
    assert window.session.profile.name == PROFILE
    # Esc with nothing under way changes nothing.
    qtbot.keyClick(window.profile_combo, Qt.Key.Key_Escape)
    assert _status(window) == connected_text


def test_choosing_a_third_profile_drops_the_slow_attempt(
    qtbot: QtBot, window: Any, secrets: SecretStore, slow_server: SlowServer, sandbox_url: str
) -> None:
    from console.config.secrets import profile_account

    _add_profile(window, secrets, "Slow host", slow_server.url, WRONG_KEY)
    _add_profile(
        window, secrets, "Also sandbox", sandbox_url, secrets.get(profile_account(PROFILE))
    )
    _choose_in_picker(window, "Slow host")
    qtbot.waitUntil(lambda: slow_server.requests == 1, timeout=10000)
    attempt = window._connect_task
    with qtbot.waitSignal(window.connection_ready, timeout=10000):
        _choose_in_picker(window, "Also sandbox")
    assert attempt.cancelled()
    slow_server.release.set()
    qtbot.waitUntil(slow_server.answered.is_set, timeout=10000)
    qtbot.waitUntil(lambda: window.runner.running == 0, timeout=10000)
    assert window.session.profile.name == "Also sandbox"
    assert window.profile_combo.currentText() == "Also sandbox"
    assert not window.banner.isVisible()
