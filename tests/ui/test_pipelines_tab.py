"""The Pipelines tab, driven through real widgets against the real sandbox."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from console.api.pipelines import Pipeline, PipelinesApi
from console.api.transport import ApiClient
from console.config.drafts import DraftStore
from console.definition.merge import Side
from console.ui.pipelines.merge_dialog import MergeDialog
from console.ui.pipelines.model import COLUMNS
from tests.api.test_pipelines_api import account_example
from tests.conftest import run


def _create_on_server(url: str, key: str) -> Pipeline:
    async def create() -> Pipeline:
        client = ApiClient(url, key)
        try:
            return await PipelinesApi(client).create(await account_example(client))
        finally:
            await client.aclose()

    return run(create())


def _replace_on_server(url: str, key: str, pipeline_id: int, text: str) -> Pipeline:
    async def replace() -> Pipeline:
        client = ApiClient(url, key)
        try:
            return await PipelinesApi(client).replace_definition(pipeline_id, text)
        finally:
            await client.aclose()

    return run(replace())


def _open_pipeline(qtbot: QtBot, window: Any, pipeline: Pipeline) -> Any:
    tab = window.pipelines_tab
    window.tabs.setCurrentWidget(tab)
    with qtbot.waitSignal(tab.pipelines_loaded, timeout=10000):
        tab.refresh()
    with qtbot.waitSignal(tab.panel.loaded, timeout=10000):
        if not tab.select_pipeline(pipeline.id) or tab._shown is not None:
            tab._open(pipeline)
    assert tab.panel.pipeline.id == pipeline.id
    return tab


def _revision_in_list(tab: Any, pipeline_id: int) -> str:
    row = tab.model.row_of(pipeline_id)
    return str(tab.model.index(row, COLUMNS.index("Rev")).data())


def test_apply_sends_the_edit_and_the_list_shows_the_new_revision(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    pipeline = _create_on_server(sandbox_url, admin_key)
    tab = _open_pipeline(qtbot, window, pipeline)
    panel = tab.panel
    assert not panel.is_dirty
    assert not panel.apply_button.isEnabled()
    edited = panel.editor.toPlainText().replace(pipeline.name, "Orders to the lake")
    panel.editor.setPlainText(edited)
    assert panel.is_dirty
    assert panel.apply_button.isEnabled()
    with qtbot.waitSignal(panel.applied, timeout=15000) as applied:
        qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    assert applied.args[0].revision == 2
    qtbot.waitUntil(lambda: _revision_in_list(tab, pipeline.id) == "2", timeout=10000)
    assert tab.model.row_at(tab.model.row_of(pipeline.id)).name == "Orders to the lake"
    assert not panel.is_dirty


def test_a_412_clash_offers_the_choice_and_keep_mine_wins(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    pipeline = _create_on_server(sandbox_url, admin_key)
    tab = _open_pipeline(qtbot, window, pipeline)
    panel = tab.panel
    mine = panel.editor.toPlainText().replace(pipeline.name, "Mine")
    theirs = panel.server_text.replace(pipeline.name, "Theirs")
    _replace_on_server(sandbox_url, admin_key, pipeline.id, theirs)  # a colleague applies first
    panel.editor.setPlainText(mine)
    with qtbot.waitSignal(panel.conflict_shown, timeout=15000) as shown:
        qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    dialog = shown.args[0]
    assert isinstance(dialog, MergeDialog)
    [row] = dialog.rows
    assert (row.conflict.path, row.conflict.mine, row.conflict.theirs) == (
        ("name",),
        "Mine",
        "Theirs",
    )
    assert panel.editor.toPlainText() == mine  # nothing lost while deciding
    qtbot.mouseClick(row.buttons[Side.MINE], Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(panel.applied, timeout=15000) as applied:
        qtbot.mouseClick(dialog.apply_button, Qt.MouseButton.LeftButton)
    assert applied.args[0].revision == 3
    assert applied.args[0].name == "Mine"


def test_taking_theirs_in_a_conflict_loads_the_server_version(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    pipeline = _create_on_server(sandbox_url, admin_key)
    tab = _open_pipeline(qtbot, window, pipeline)
    panel = tab.panel
    theirs = panel.server_text.replace(pipeline.name, "Theirs")
    _replace_on_server(sandbox_url, admin_key, pipeline.id, theirs)
    panel.editor.setPlainText(panel.editor.toPlainText().replace(pipeline.name, "Mine"))
    with qtbot.waitSignal(panel.conflict_shown, timeout=15000) as shown:
        qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    dialog = shown.args[0]
    qtbot.mouseClick(dialog.rows[0].buttons[Side.THEIRS], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Theirs" in panel.editor.toPlainText(), timeout=10000)
    qtbot.waitUntil(lambda: not panel.is_dirty, timeout=10000)
    assert panel.base_revision == 2
    assert not panel.is_dirty


def test_closing_with_unapplied_edits_asks_and_keeps_a_draft(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str, tmp_path: Any
) -> None:
    pipeline = _create_on_server(sandbox_url, admin_key)
    tab = _open_pipeline(qtbot, window, pipeline)
    edited = tab.panel.editor.toPlainText().replace(pipeline.name, "Half-done edit")
    tab.panel.editor.setPlainText(edited)
    window.close()
    assert window.isVisible(), "closing with unapplied edits must ask first"
    box = window.unsaved_box
    assert "not applied" in box.text()
    qtbot.mouseClick(box.keep_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    draft = DraftStore(tmp_path / "drafts").load(window.session.profile.name, pipeline.id)
    assert draft is not None
    assert draft.text == edited
    assert draft.base_revision == 1


def test_a_kept_draft_comes_back_when_the_pipeline_is_opened_again(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    first = _create_on_server(sandbox_url, admin_key)
    second = _create_on_server(sandbox_url, admin_key)
    tab = _open_pipeline(qtbot, window, first)
    edited = tab.panel.editor.toPlainText().replace(first.name, "Draft survives")
    tab.panel.editor.setPlainText(edited)
    assert tab.select_pipeline(second.id)
    box = tab.unsaved_box
    with qtbot.waitSignal(tab.panel.loaded, timeout=10000):
        qtbot.mouseClick(box.keep_button, Qt.MouseButton.LeftButton)
    assert tab.panel.pipeline.id == second.id
    with qtbot.waitSignal(tab.panel.loaded, timeout=10000):
        assert tab.select_pipeline(first.id)
    assert tab.panel.editor.toPlainText() == edited
    assert "Restored your unapplied draft" in tab.panel.state_label.text()


def test_start_stop_and_archive_change_the_badge(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    pipeline = _create_on_server(sandbox_url, admin_key)
    tab = _open_pipeline(qtbot, window, pipeline)
    assert tab.status_badge.text() == "draft"
    qtbot.mouseClick(tab.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.status_badge.text() == "running", timeout=15000)
    qtbot.mouseClick(tab.force_button, Qt.MouseButton.LeftButton)
    box = tab.confirm_box
    assert "Force stop" in box.text()
    qtbot.mouseClick(box.action_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.status_badge.text() == "stopped", timeout=15000)
    qtbot.mouseClick(tab.archive_button, Qt.MouseButton.LeftButton)
    box = tab.confirm_box
    assert pipeline.name in box.text()
    with qtbot.waitSignal(tab.pipelines_loaded, timeout=15000):
        qtbot.mouseClick(box.action_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.status_badge.text() == "archived", timeout=15000)
    qtbot.waitUntil(lambda: tab.model.row_of(pipeline.id) is None, timeout=10000)


def test_new_pipeline_from_the_example_is_created(qtbot: QtBot, window: Any) -> None:
    tab = window.pipelines_tab
    window.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: tab.panel.catalog is not None, timeout=10000)
    qtbot.mouseClick(tab.new_button, Qt.MouseButton.LeftButton)
    panel = tab.panel
    assert panel.is_new
    assert panel.editor.toPlainText() == panel.example_text()
    assert "id: 1\n" not in panel.example_text()  # this account's own connections
    assert panel.apply_button.text().replace("&", "") == "Create"
    qtbot.waitUntil(panel.apply_button.isEnabled, timeout=10000)  # once checked valid
    with qtbot.waitSignal(panel.created, timeout=15000) as created:
        qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.model.row_of(created.args[0].id) is not None, timeout=10000)
    assert panel.apply_button.text().replace("&", "") == "Apply"


def test_server_problems_are_listed_apart_and_block_apply(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    pipeline = _create_on_server(sandbox_url, admin_key)
    tab = _open_pipeline(qtbot, window, pipeline)
    panel = tab.panel
    panel.editor.setPlainText(panel.editor.toPlainText() + "colour: blue\n")
    with qtbot.waitSignal(panel.server_checked, timeout=15000) as checked:
        pass  # the debounced dry-run runs by itself after typing stops
    problems = checked.args[0]
    assert [p.path for p in problems] == ["colour"]
    assert problems[0].line > 1  # placed at the local problem's position
    # Before any Apply, the check only counts (properly); it speaks of no refusal.
    assert panel.server_label.text() == "Server check: 1 problem"
    assert not panel.state_label.text().startswith("Not applied")
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(panel.server_checked, timeout=15000):
        pass
    assert panel.base_revision == 1  # nothing applied
    assert panel.server_label.text() == "Server check: 1 problem"
    assert panel.state_label.text().startswith("Not applied")


def test_yaml_json_toggle_keeps_the_document(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    pipeline = _create_on_server(sandbox_url, admin_key)
    panel = _open_pipeline(qtbot, window, pipeline).panel
    assert panel.convert_to("json")
    assert panel.editor.toPlainText().lstrip().startswith("{")
    assert not panel.is_dirty  # a conversion is not an edit
    assert panel.convert_to("yaml")
    panel.editor.setPlainText("name: [unclosed\n")
    assert not panel.convert_to("json")
    assert "Fix the syntax errors first" in panel.state_label.text()
    assert panel.editor.toPlainText() == "name: [unclosed\n"


def test_graceful_stop_after_the_sync_moves_the_badge_to_stopped(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    pipeline = _create_on_server(sandbox_url, admin_key)
    tab = _open_pipeline(qtbot, window, pipeline)
    qtbot.mouseClick(tab.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.status_badge.text() == "running", timeout=15000)

    def first_sync_done() -> bool:
        tab.refresh()  # the sync's end is not a status change, so ask the server
        shown = tab._shown
        return shown is not None and shown.last_sync_finished_at is not None

    qtbot.waitUntil(first_sync_done, timeout=20000)
    qtbot.mouseClick(tab.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.status_badge.text() == "stopped", timeout=15000)
    assert not window.banner.isVisible()
    assert tab.start_button.isEnabled()


def test_diff_shows_the_edit_against_the_server(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    pipeline = _create_on_server(sandbox_url, admin_key)
    panel = _open_pipeline(qtbot, window, pipeline).panel
    panel.editor.setPlainText(panel.editor.toPlainText().replace(pipeline.name, "Renamed"))
    qtbot.mouseClick(panel.diff_button, Qt.MouseButton.LeftButton)
    text = panel.diff_dialog.view.toPlainText()
    assert f"-name: {pipeline.name}" in text
    assert "+name: Renamed" in text
    assert "revision 1" in text
    panel.diff_dialog.reject()


def test_open_and_save_files_never_lose_the_text(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str, tmp_path: Any
) -> None:
    pipeline = _create_on_server(sandbox_url, admin_key)
    panel = _open_pipeline(qtbot, window, pipeline).panel
    saved = tmp_path / "pipeline.yaml"
    assert panel.save_file(saved)
    assert saved.read_text() == panel.editor.toPlainText()
    edited = panel.editor.toPlainText() + "# reviewed\n"
    panel.editor.setPlainText(edited)
    assert not panel.save_file(tmp_path / "missing-dir" / "x.yaml")
    assert "Your text is unchanged" in panel.state_label.text()
    assert panel.editor.toPlainText() == edited
    assert panel.open_file(saved)
    assert panel.editor.toPlainText() == saved.read_text()
    assert panel.is_dirty is False  # the file holds exactly the server's text
    assert not panel.open_file(tmp_path / "nope.yaml")
    assert "Could not open nope.yaml" in panel.state_label.text()


def test_a_restored_draft_based_on_an_old_revision_meets_a_conflict_not_an_overwrite(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    pipeline = _create_on_server(sandbox_url, admin_key)
    tab = _open_pipeline(qtbot, window, pipeline)
    mine = tab.panel.editor.toPlainText().replace(pipeline.name, "My draft")
    tab.panel.editor.setPlainText(mine)
    tab.panel.save_draft()  # kept, as when the window closed
    theirs = tab.panel.server_text.replace(pipeline.name, "Colleague's")
    _replace_on_server(sandbox_url, admin_key, pipeline.id, theirs)  # revision 2
    with qtbot.waitSignal(tab.panel.loaded, timeout=10000):
        tab._open(pipeline)  # reopened later
    assert tab.panel.editor.toPlainText() == mine
    assert "based on revision 1, the server is now at 2" in tab.panel.state_label.text()
    with qtbot.waitSignal(tab.panel.conflict_shown, timeout=15000) as shown:
        qtbot.mouseClick(tab.panel.apply_button, Qt.MouseButton.LeftButton)
    dialog = shown.args[0]
    assert [(r.conflict.mine, r.conflict.theirs) for r in dialog.rows] == [
        ("My draft", "Colleague's")
    ]
    dialog.reject()


def test_create_cannot_be_sent_twice(qtbot: QtBot, window: Any) -> None:
    tab = window.pipelines_tab
    qtbot.waitUntil(lambda: tab.panel.catalog is not None, timeout=10000)
    qtbot.mouseClick(tab.new_button, Qt.MouseButton.LeftButton)
    panel = tab.panel
    created: list[Pipeline] = []
    panel.created.connect(created.append)
    qtbot.waitUntil(panel.apply_button.isEnabled, timeout=10000)
    panel.apply()
    assert not panel.apply_button.isEnabled()
    panel.apply()  # a double click
    qtbot.waitUntil(lambda: len(created) == 1, timeout=15000)
    qtbot.waitUntil(lambda: tab.has_loaded and tab.model.rowCount() == 1, timeout=10000)
    with qtbot.waitSignal(tab.pipelines_loaded, timeout=10000):
        tab.refresh()
    assert tab.model.rowCount() == 1


def test_the_format_toggle_is_undoable_and_says_comments_go(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    pipeline = _create_on_server(sandbox_url, admin_key)
    panel = _open_pipeline(qtbot, window, pipeline).panel
    commented = "# keep me\n" + panel.editor.toPlainText()
    panel.editor.setPlainText(commented)
    assert panel.convert_to("json")
    assert "Comments are not carried over" in panel.state_label.text()
    panel.editor.undo()
    assert panel.editor.toPlainText() == commented


def test_a_graceful_stop_during_a_sync_explains_and_force_stop_works(
    qtbot: QtBot,
    make_window: Any,
    make_sandbox: Any,
) -> None:
    from console.sandbox.storage.sqlite import mint_key

    # Syncs that last long enough to be caught running.
    server = make_sandbox(demo=False, extra_args=["--sync-seconds", "30"])
    key = mint_key(server.data_dir, account="syncing", kind="admin")
    window = make_window(server.base_url, key)
    pipeline = _create_on_server(server.base_url, key)
    tab = _open_pipeline(qtbot, window, pipeline)
    qtbot.mouseClick(tab.start_button, Qt.MouseButton.LeftButton)

    def syncing() -> bool:
        tab.refresh()
        shown = tab._shown
        return (
            shown is not None
            and shown.status == "running"
            and (shown.last_sync_started_at is not None and shown.last_sync_finished_at is None)
        )

    qtbot.waitUntil(syncing, timeout=20000)
    with qtbot.waitSignal(window.runner.failed, timeout=10000):
        qtbot.mouseClick(tab.stop_button, Qt.MouseButton.LeftButton)
    banner = window.banner.headline.text()
    assert "A sync is running" in banner
    assert "Force stop" in banner
    assert "409" in banner
    assert tab.status_badge.text() == "running"
    qtbot.mouseClick(tab.force_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(tab.confirm_box.action_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.status_badge.text() == "stopped", timeout=15000)
