"""Apply meets a newer revision (412): the three-way merge, reviewed before anything is sent.

Real widgets against the real sandbox: a colleague's change goes in through the API while
the console holds an edit of the same pipeline.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from console.api.pipelines import Pipeline, PipelinesApi
from console.api.transport import ApiClient
from console.definition import validate_text
from console.definition.merge import Side, format_path
from console.ui.pipelines.merge_dialog import MergeDialog
from tests.api.test_pipelines_api import account_example
from tests.conftest import run
from tests.ui.test_pipelines_tab import _open_pipeline, _replace_on_server

TWO_TABLES = """\
  - name: public.orders
    columns:
      include: [id, total]
  - name: public.customers
"""


def _create_two_tables(url: str, key: str) -> Pipeline:
    async def create() -> Pipeline:
        client = ApiClient(url, key)
        try:
            text = (await account_example(client)).replace("  - name: public.orders\n", TWO_TABLES)
            return await PipelinesApi(client).create(text)
        finally:
            await client.aclose()

    return run(create())


def _server_document(url: str, key: str, pipeline_id: int) -> dict[str, Any]:
    async def read() -> str:
        client = ApiClient(url, key)
        try:
            return (await PipelinesApi(client).get_definition(pipeline_id, format="yaml")).text
        finally:
            await client.aclose()

    document = validate_text(run(read())).document
    assert document is not None
    return document


def _table(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in document["tables"] if t["name"] == name)


def _replace_line(text: str, old: str, new: str) -> str:
    assert old in text, f"{old!r} not in {text!r}"
    return text.replace(old, new, 1)


def test_edits_to_two_tables_merge_without_a_question_and_the_server_gets_both(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    pipeline = _create_two_tables(sandbox_url, admin_key)
    tab = _open_pipeline(qtbot, window, pipeline)
    panel = tab.panel
    # A colleague marks customers append-only through the API (revision 2) ...
    theirs = _replace_line(
        panel.server_text,
        "- name: public.customers\n",
        "- name: public.customers\n    append_only: true\n",
    )
    _replace_on_server(sandbox_url, admin_key, pipeline.id, theirs)
    # ... while the console adds a column to orders, with a comment of its own.
    mine = "# reviewed by the data team\n" + _replace_line(
        panel.editor.toPlainText(),
        "include: [id, total]",
        "include: [id, total, created_at]  # for SLAs",
    )
    panel.editor.setPlainText(mine)
    with qtbot.waitSignal(panel.conflict_shown, timeout=15000) as shown:
        qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    dialog = shown.args[0]
    assert isinstance(dialog, MergeDialog)
    assert dialog.rows == []  # nothing to decide
    assert dialog.apply_button.isEnabled()
    taken = [dialog.taken_list.item(i).text() for i in range(dialog.taken_list.count())]
    assert taken == ["tables[public.customers].append_only: (none) → true"]
    assert "+    append_only: true" in dialog.diff_view.toPlainText()
    assert dialog.merged.layout_kept
    assert panel.editor.toPlainText() == mine  # nothing changed or sent while reviewing
    assert _server_document(sandbox_url, admin_key, pipeline.id)["tables"][0]["columns"] == {
        "include": ["id", "total"]
    }

    with qtbot.waitSignal(panel.applied, timeout=15000) as applied:
        qtbot.mouseClick(dialog.apply_button, Qt.MouseButton.LeftButton)
    assert applied.args[0].revision == 3
    server = _server_document(sandbox_url, admin_key, pipeline.id)
    assert _table(server, "public.orders")["columns"]["include"] == ["id", "total", "created_at"]
    assert _table(server, "public.customers")["append_only"] is True
    text = panel.editor.toPlainText()
    assert text.startswith("# reviewed by the data team\n")  # the user's comments stay
    assert "include: [id, total, created_at]  # for SLAs" in text
    assert not panel.is_dirty
    assert panel.base_revision == 3


def test_a_clash_on_one_field_list_shows_both_values_and_applies_the_one_chosen(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    pipeline = _create_two_tables(sandbox_url, admin_key)
    tab = _open_pipeline(qtbot, window, pipeline)
    panel = tab.panel
    theirs = _replace_line(panel.server_text, "[id, total]", "[id, sku]")
    _replace_on_server(sandbox_url, admin_key, pipeline.id, theirs)
    mine = _replace_line(panel.editor.toPlainText(), "[id, total]", "[id, total, email]")
    panel.editor.setPlainText(mine)
    with qtbot.waitSignal(panel.conflict_shown, timeout=15000) as shown:
        qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    dialog = shown.args[0]
    assert isinstance(dialog, MergeDialog)
    [row] = dialog.rows
    assert format_path(row.conflict.path) == "tables[public.orders].columns.include"
    assert row.title() == "tables[public.orders].columns.include"
    assert (row.conflict.base, row.conflict.mine, row.conflict.theirs) == (
        ["id", "total"],
        ["id", "total", "email"],
        ["id", "sku"],
    )
    assert not dialog.apply_button.isEnabled()  # a choice is due first
    qtbot.mouseClick(row.buttons[Side.THEIRS], Qt.MouseButton.LeftButton)
    assert dialog.choices() == {row.conflict.path: Side.THEIRS}
    assert dialog.apply_button.isEnabled()
    with qtbot.waitSignal(panel.applied, timeout=15000):
        qtbot.mouseClick(dialog.apply_button, Qt.MouseButton.LeftButton)
    server = _server_document(sandbox_url, admin_key, pipeline.id)
    assert _table(server, "public.orders")["columns"]["include"] == ["id", "sku"]
    assert not panel.is_dirty


def test_cancelling_the_merge_sends_nothing_and_keeps_the_edit_as_a_draft(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    pipeline = _create_two_tables(sandbox_url, admin_key)
    tab = _open_pipeline(qtbot, window, pipeline)
    panel = tab.panel
    theirs = _replace_line(panel.server_text, "frequency: 60", "frequency: 30")
    _replace_on_server(sandbox_url, admin_key, pipeline.id, theirs)
    mine = _replace_line(panel.editor.toPlainText(), "[id, total]", "[id, total, email]")
    panel.editor.setPlainText(mine)
    with qtbot.waitSignal(panel.conflict_shown, timeout=15000) as shown:
        qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    dialog = shown.args[0]
    with qtbot.waitSignal(dialog.finished, timeout=5000):
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "kept as a draft" in panel.state_label.text(), timeout=5000)
    assert panel.editor.toPlainText() == mine
    assert panel.base_revision == 1
    draft = panel.drafts.load(panel.profile_key, pipeline.id)
    assert draft is not None
    assert draft.text == mine
    assert draft.base_text is not None
    assert "frequency: 60" in draft.base_text  # the base survives for a later merge
    server = _server_document(sandbox_url, admin_key, pipeline.id)
    assert _table(server, "public.orders")["columns"]["include"] == ["id", "total"]


def test_a_merge_dialog_for_one_pipeline_never_applies_to_another_opened_meanwhile(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    first = _create_two_tables(sandbox_url, admin_key)
    second = _create_two_tables(sandbox_url, admin_key)
    tab = _open_pipeline(qtbot, window, first)
    panel = tab.panel
    theirs = _replace_line(panel.server_text, "frequency: 60", "frequency: 30")
    _replace_on_server(sandbox_url, admin_key, first.id, theirs)
    mine = _replace_line(panel.editor.toPlainText(), "[id, total]", "[id, total, email]")
    panel.editor.setPlainText(mine)
    with qtbot.waitSignal(panel.conflict_shown, timeout=15000) as shown:
        qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    dialog = shown.args[0]
    panel.save_draft()
    with qtbot.waitSignal(panel.loaded, timeout=10000):
        tab._open(second)  # the selection moved while the review was open
    applied: list[Pipeline] = []
    panel.applied.connect(applied.append)
    with qtbot.waitSignal(dialog.finished, timeout=5000):
        qtbot.mouseClick(dialog.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel._applying, timeout=5000)
    assert applied == []
    assert panel.pipeline is not None
    assert panel.pipeline.id == second.id
    assert not panel.is_dirty  # the second pipeline's editor got nothing of the first's
    for pipeline_id in (first.id, second.id):
        server = _server_document(sandbox_url, admin_key, pipeline_id)
        assert _table(server, "public.orders")["columns"]["include"] == ["id", "total"]


def _archive_on_server(url: str, key: str, pipeline_id: int) -> None:
    async def archive() -> None:
        client = ApiClient(url, key)
        try:
            await PipelinesApi(client).archive(pipeline_id)
        finally:
            await client.aclose()

    run(archive())


def test_a_pipeline_archived_meanwhile_is_said_plainly_and_the_edit_stays_a_draft(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    pipeline = _create_two_tables(sandbox_url, admin_key)
    tab = _open_pipeline(qtbot, window, pipeline)
    panel = tab.panel
    _replace_on_server(
        sandbox_url, admin_key, pipeline.id, _replace_line(panel.server_text, ": 60", ": 30")
    )
    _archive_on_server(sandbox_url, admin_key, pipeline.id)
    mine = _replace_line(panel.editor.toPlainText(), "[id, total]", "[id, total, email]")
    panel.editor.setPlainText(mine)
    shown: list[object] = []
    panel.conflict_shown.connect(shown.append)
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "was archived meanwhile" in panel.state_label.text(), timeout=15000)
    assert shown == []  # nothing to merge into
    assert panel.editor.toPlainText() == mine
    draft = panel.drafts.load(panel.profile_key, pipeline.id)
    assert draft is not None
    assert draft.text == mine


def test_a_draft_kept_without_its_base_text_asks_about_every_difference(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    pipeline = _create_two_tables(sandbox_url, admin_key)
    tab = _open_pipeline(qtbot, window, pipeline)
    panel = tab.panel
    mine = _replace_line(panel.editor.toPlainText(), "[id, total]", "[id, total, email]")
    # A draft as kept before base texts were: based on revision 1, no base text.
    panel.drafts.save(panel.profile_key, pipeline.id, mine, "yaml", 1)
    _replace_on_server(
        sandbox_url, admin_key, pipeline.id, _replace_line(panel.server_text, ": 60", ": 30")
    )
    with qtbot.waitSignal(panel.loaded, timeout=10000):
        tab._open(pipeline)
    assert panel.editor.toPlainText() == mine
    with qtbot.waitSignal(panel.conflict_shown, timeout=15000) as shown:
        qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    dialog = shown.args[0]
    # Nobody knows who changed what: both differences are questions, not guesses.
    assert [row.title() for row in dialog.rows] == [
        "sync.frequency",
        "tables[public.orders].columns.include",
    ]
    assert all(not row.buttons[Side.BASE].isEnabled() for row in dialog.rows)
    dialog.reject()


def test_writes_locked_again_during_the_review_send_nothing(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    pipeline = _create_two_tables(sandbox_url, admin_key)
    tab = _open_pipeline(qtbot, window, pipeline)
    panel = tab.panel
    gate = window.session.protection
    gate.set_profile(dataclasses.replace(window.session.profile, environment="production"))
    gate.unlock()
    _replace_on_server(
        sandbox_url, admin_key, pipeline.id, _replace_line(panel.server_text, ": 60", ": 30")
    )
    mine = _replace_line(panel.editor.toPlainText(), "[id, total]", "[id, total, email]")
    panel.editor.setPlainText(mine)
    with qtbot.waitSignal(panel.conflict_shown, timeout=15000) as shown:
        panel.apply()
    dialog = shown.args[0]
    gate.lock()  # locked again while the merge was being reviewed
    qtbot.mouseClick(dialog.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "production profile" in panel.state_label.text(), timeout=10000)
    server = _server_document(sandbox_url, admin_key, pipeline.id)
    assert _table(server, "public.orders")["columns"]["include"] == ["id", "total"]
    draft = panel.drafts.load(panel.profile_key, pipeline.id)
    assert draft is not None
    assert "[id, total, email]" in draft.text
    assert draft.base_revision == 2  # the merged edit is based on the server's revision now
