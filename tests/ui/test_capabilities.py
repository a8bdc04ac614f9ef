"""Profiles that know what a server offers: real sandboxes started with `--only`."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from console.api.capabilities import PARTS, TEMPLATES
from console.config.drafts import DraftStore
from console.config.profiles import ConnectionProfile, SettingsStore
from console.config.secrets import SecretStore, profile_account
from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import mint_key
from console.ui.screenshots import visible_texts
from console.ui.widgets.not_offered import NotOfferedPage

# What a tab or the banner shows when a request failed; none may appear.
ERROR_MARKERS = ("404", "NOT_FOUND", "not found", "No route", "Cannot", "Could not", "failed")
TAB_NAMES = ("keys", "pipelines", "records", "logs")


def _settle(qtbot: QtBot, window: Any) -> None:
    qtbot.waitUntil(lambda: window.all_tabs_built, timeout=15000)
    qtbot.waitUntil(lambda: window.runner.running == 0, timeout=15000)


def _assert_no_error_anywhere(qtbot: QtBot, window: Any) -> list[str]:
    """Show every tab in turn (each loads what it loads); nothing may say it failed."""
    shown: list[str] = []
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        qtbot.waitUntil(lambda: window.runner.running == 0, timeout=15000)
        texts = "\n".join(visible_texts(window))
        for marker in ERROR_MARKERS:
            # Whole words: a port such as 40403 in "Connected to …" is no 404.
            assert not re.search(rf"\b{re.escape(marker)}\b", texts), (index, marker, texts)
        shown.append(texts)
    assert not window.banner.isVisibleTo(window)
    assert window.status.connection_label.text().startswith("Connected"), (
        window.status.connection_label.text()
    )
    return shown


def _not_offered(window: Any) -> set[str]:
    return {
        TAB_NAMES[index]
        for index in range(window.tabs.count())
        if isinstance(window.tabs.widget(index), NotOfferedPage)
    }


def test_a_keys_and_pipelines_server_says_records_and_logs_are_not_offered(
    qtbot: QtBot,
    make_sandbox: Callable[..., SandboxProcess],
    make_window: Callable[[str, str], Any],
    secrets: SecretStore,
    sandbox_url: str,
    admin_key: str,
) -> None:
    server = make_sandbox(demo=False, extra_args=["--only", "keys,pipelines"])
    key = mint_key(server.data_dir, account="integrate", kind="admin")
    window = make_window(str(server.base_url), key)
    _settle(qtbot, window)
    assert window.session.capabilities.parts == {"keys", "pipelines"}
    assert _not_offered(window) == {"records", "logs"}
    shown = _assert_no_error_anywhere(qtbot, window)
    assert "This server does not offer records." in shown[2]
    assert "This server does not offer connector logs." in shown[3]
    assert "This server offers API keys and pipelines." in shown[3]
    assert window.tabs.widget(0) is window.keys_tab  # what it offers shows as ever
    assert window.tabs.widget(1) is window.pipelines_tab
    # Find by ID needs the logs; Bulk ingest needs /api/ingest.
    assert not window.find_field.isEnabled()
    assert "does not offer connector logs" in window.find_field.toolTip()
    assert not window.bulk_button.isEnabled()
    assert "does not offer stream ingestion" in window.bulk_button.toolTip()

    # A server that offers them brings the tabs back.
    window.settings.upsert(ConnectionProfile("Full", base_url=sandbox_url))
    secrets.set(profile_account("Full"), admin_key)
    with qtbot.waitSignal(window.connection_ready, timeout=15000):
        window.connect_profile(window.settings.profile("Full"))
    assert _not_offered(window) == set()
    assert window.tabs.widget(2) is window.records_tab
    assert window.tabs.widget(3) is window.logs_tab
    assert window.find_field.isEnabled()
    assert window.bulk_button.isEnabled()
    window.tabs.setCurrentIndex(2)
    qtbot.waitUntil(lambda: window.records_tab.feeds_listed, timeout=15000)


@pytest.fixture
def bare_window(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    secrets: SecretStore,
    settings_store: SettingsStore,
    tmp_path: Path,
) -> Iterator[Any]:
    """A shown MainWindow with no profile yet."""
    from console.ui.main_window import MainWindow

    window = MainWindow(secrets, settings_store, drafts=DraftStore(tmp_path / "drafts"))
    window.resize(1280, 800)
    window.show()
    yield window
    shutdown = asyncio.ensure_future(window.shutdown())
    qtbot.waitUntil(shutdown.done, timeout=15000)
    shutdown.result()
    window.close_keeping_drafts()
    window.deleteLater()


# template, the sandbox's --only, the key kind, auth mode, the tabs not offered
CASES = [
    ("Integrate.io", "keys,pipelines", "admin", "header", {"records", "logs"}),
    ("Frontic", "intents", "admin", "header", set(TAB_NAMES)),
    ("Frontic", "intents", "admin", "query", set(TAB_NAMES)),
    ("Inspire", "ingest", "ingest", "header", set(TAB_NAMES)),
]


@pytest.mark.parametrize(
    ("template_name", "only", "kind", "auth", "not_offered"),
    CASES,
    ids=[f"{case[0]}-{case[3]}" for case in CASES],
)
def test_each_template_connects_to_a_server_offering_its_parts(
    qtbot: QtBot,
    make_sandbox: Callable[..., SandboxProcess],
    bare_window: Any,
    tmp_path: Path,
    template_name: str,
    only: str,
    kind: str,
    auth: str,
    not_offered: set[str],
) -> None:
    server = make_sandbox(demo=False, extra_args=["--only", only])
    feed = "orders" if kind == "ingest" else None
    key = mint_key(server.data_dir, account="service", kind=kind, feed=feed)
    window = bare_window
    dialog = window.open_profiles_dialog()
    template = next(t for t in TEMPLATES if t.name == template_name)
    index = dialog.template_combo.findData(template_name)
    dialog.template_combo.setCurrentIndex(index)
    dialog.template_combo.activated.emit(index)
    # The template names its base URL pattern and auth mode, and fills the form.
    assert dialog.url_edit.text() == template.base_url
    assert dialog.url_edit.selectedText().startswith("{")
    assert dialog.auth_combo.currentData() == template.auth_mode
    assert dialog.key_edit.placeholderText() == template.key_prefix + "…"
    assert dialog.template_note.isVisibleTo(dialog)
    assert dialog.name_edit.text() == template_name
    # The pattern must be filled in before saving.
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert "replace the part in braces" in dialog.message.text()
    assert not dialog.query_warning.isVisibleTo(dialog)
    dialog.auth_combo.setCurrentIndex(dialog.auth_combo.findData(auth))
    # Query auth is allowed where the service takes it, with a warning on proxy logs.
    assert dialog.query_warning.isVisibleTo(dialog) == (auth == "query")
    if auth == "query":
        assert "logs" in dialog.query_warning.text()
    dialog.url_edit.setText(str(server.base_url))
    dialog.key_edit.setText(key)
    # A new profile is production (read-only) unless told otherwise: this one is a test
    # deployment, so that the bulk ingest below is not refused.
    dialog.environment_combo.setCurrentIndex(dialog.environment_combo.findData("development"))
    with qtbot.waitSignal(window.connection_ready, timeout=15000):
        qtbot.mouseClick(dialog.connect_button, Qt.MouseButton.LeftButton)
    _settle(qtbot, window)
    assert window.session.capabilities.parts == template.parts
    assert window.session.client.auth_mode == auth
    assert _not_offered(window) == not_offered
    _assert_no_error_anywhere(qtbot, window)
    assert window.bulk_button.isEnabled() == ("ingest" in template.parts)
    if template_name == "Integrate.io":
        qtbot.waitUntil(lambda: window.keys_tab.model.rowCount() == 1, timeout=10000)
    if template_name == "Inspire":
        _bulk_ingest_to_a_named_stream(qtbot, window, tmp_path)


def _bulk_ingest_to_a_named_stream(qtbot: QtBot, window: Any, tmp_path: Path) -> None:
    """Bulk ingest is what an Inspire connector offers: with no feed list, the stream is
    named by hand, and the items are taken."""
    from console.ui.bulk.dialog import BulkIngestDialog

    assert "Upload" in window.bulk_button.toolTip()
    items = tmp_path / "items.ndjson"
    items.write_text("".join(json.dumps({"id": f"i-{n}", "n": n}) + "\n" for n in range(25)))
    window.bulk_button.click()
    dialog = window.bulk.dialog
    assert isinstance(dialog, BulkIngestDialog)
    qtbot.waitUntil(dialog.feed_combo.isEditable, timeout=10000)
    with qtbot.waitSignal(dialog.preview_ready, timeout=15000):
        qtbot.keyClicks(dialog.feed_combo, "orders")
        dialog.set_file(items)
    assert not dialog.setup_error.isVisibleTo(dialog)
    with qtbot.waitSignal(dialog.upload_finished, timeout=30000) as finished:
        dialog.start_upload()
    assert finished.args[0].items_sent == 25
    assert finished.args[0].rejected_count == 0
    dialog.close()


def _connect(qtbot: QtBot, window: Any, name: str) -> None:
    with qtbot.waitSignal(window.connection_ready, timeout=15000):
        window.connect_profile(window.settings.profile(name))
    _settle(qtbot, window)


def test_an_ingest_key_on_a_full_server_is_told_what_it_may_not_use(
    qtbot: QtBot,
    bare_window: Any,
    secrets: SecretStore,
    sandbox_url: str,
    mint_key: Callable[..., str],
    account: str,
    tmp_path: Path,
) -> None:
    """The server offers every tab's part; an ingest key may use none of them (403 under
    /api/public/v1): each tab says so and which key may, nothing fails, and the actions
    follow. Connected first with nothing to keep, then switching from an admin key."""
    from console.ui.actions import refusal_of

    window = bare_window
    for name, key in (
        ("Stream", mint_key(account, "ingest", feed="orders")),
        ("Admin", mint_key(account, "admin")),
    ):
        window.settings.upsert(
            ConnectionProfile(name, base_url=sandbox_url, environment="development")
        )
        secrets.set(profile_account(name), key)

    def refusal(action_id: str) -> str | None:
        return refusal_of(window.action_registry.get(action_id), window.session.protection)

    for step in ("Stream", "Admin", "Stream"):
        _connect(qtbot, window, step)
        if step == "Admin":
            # Every tab is back, and usable.
            assert window.session.capabilities.forbidden == frozenset()
            assert _not_offered(window) == set()
            assert window.find_field.isEnabled()
            assert refusal("keys.add") is None
            qtbot.waitUntil(lambda: window.keys_tab.model.rowCount() == 2, timeout=10000)
            continue
        capabilities = window.session.capabilities
        assert capabilities.parts == set(PARTS)  # the server offers all, whoever asks
        assert capabilities.key_kind == "ingest"
        assert _not_offered(window) == set(TAB_NAMES)
        shown = _assert_no_error_anywhere(qtbot, window)
        for texts, title in zip(
            shown, ("API keys", "pipelines", "records", "connector logs"), strict=True
        ):
            assert f"This key may not use {title}." in texts
            assert "It is an ingest key (ik_live_…)" in texts
            assert f"An admin key (fdk_…) may use {title}" in texts
            assert "This server offers API keys, pipelines, feeds" in texts
            assert "This key may use ingest intents (/ingest) and stream ingestion" in texts
            assert "FORBIDDEN" not in texts
            assert not re.search(r"\b403\b", texts)  # whole word: not in a port number
        page = window.tabs.widget(0)
        assert page.accessibleName() == "This key may not use API keys."
        assert "admin key (fdk_…)" in page.accessibleDescription()
        # Find by ID reads the logs: disabled, saying why and which key may.
        assert not window.find_field.isEnabled()
        assert "This key may not use connector logs." in window.find_field.toolTip()
        assert "admin key (fdk_…)" in window.find_field.toolTip()
        assert refusal("find_by_id") == window.find_field.toolTip()
        window.find_by_id("corr_0123456789")  # an ID clicked in a message, say
        assert "This key may not use connector logs." in window.status.currentMessage()
        assert window._finder is None  # nothing was asked of the logs
        # The tabs' actions are refused with the page's sentence; showing a tab shows it.
        assert refusal("keys.add") == "This key may not use API keys."
        assert refusal("pipelines.new") == "This key may not use pipelines."
        assert refusal("records.import") == "This key may not use records."
        assert refusal("logs.export") == "This key may not use connector logs."
        window.window_actions.trigger(window.action_registry.get("tab.pipelines"))
        assert window.tabs.currentIndex() == 1
        assert refusal("view.refresh") == "This key may not use pipelines."
        # Its own stream is what it may write: Bulk ingest is on, and takes the items.
        assert window.bulk_button.isEnabled()
        assert refusal("bulk.ingest") is None
        assert not window.banner.isVisibleTo(window)
    _bulk_ingest_to_a_named_stream(qtbot, window, tmp_path)
    assert not window.banner.isVisibleTo(window)


def test_testing_an_ingest_key_says_what_it_may_use(
    qtbot: QtBot,
    bare_window: Any,
    sandbox_url: str,
    mint_key: Callable[..., str],
    account: str,
) -> None:
    """ "Test connection" with an ingest key on a full server: an admin read's 403 says
    the key is valid (a 401 that it is not), never a write; the result says what it may
    use, and a mistyped ingest key fails the test."""
    key = mint_key(account, "ingest", feed="orders")
    dialog = bare_window.open_profiles_dialog()
    dialog.name_edit.setText("Stream")
    dialog.url_edit.setText(sandbox_url)
    dialog.key_edit.setText(key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB"))
    with qtbot.waitSignal(dialog.tested, timeout=10000) as result:
        qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    ok, text = result.args
    assert not ok, text
    dialog.key_edit.setText(key)
    with qtbot.waitSignal(dialog.tested, timeout=10000) as result:
        qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    ok, text = result.args
    assert ok, text
    assert "the key works" in text
    assert "This server offers API keys" in text
    assert text.endswith(
        "This key may use ingest intents (/ingest) and stream ingestion (/api/ingest)."
    )
    dialog.close()
