"""The definition editor keeps what is on screen together (issue 10, B 1, 2, 7, 8, 9).

Real widgets against the real sandbox; every wait is on a signal or a condition.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from console.api.pipelines import Pipeline, PipelinesApi
from console.api.transport import ApiClient
from console.config.drafts import DraftStore
from console.definition import validate_text
from console.ui.pipelines.model import COLUMNS
from console.ui.screenshots import visible_texts
from tests.conftest import run
from tests.ui.conftest import PROFILE
from tests.ui.test_pipelines_tab import _create_on_server, _open_pipeline, _replace_on_server


def _definition_on_server(url: str, key: str, pipeline_id: int) -> str:
    async def get() -> str:
        client = ApiClient(url, key)
        try:
            return (await PipelinesApi(client).get_definition(pipeline_id)).text
        finally:
            await client.aclose()

    return run(get())


def _first_list_loaded(qtbot: QtBot, window: Any) -> Any:
    """The list the connection loaded (before the test made any pipeline: none is open)."""
    tab = window.pipelines_tab
    qtbot.waitUntil(lambda: tab.has_loaded, timeout=10000)
    return tab


def _loaded_list(qtbot: QtBot, window: Any) -> Any:
    tab = window.pipelines_tab
    window.tabs.setCurrentWidget(tab)
    with qtbot.waitSignal(tab.pipelines_loaded, timeout=10000):
        tab.refresh()
    qtbot.waitUntil(lambda: tab.panel.catalog is not None, timeout=10000)
    return tab


def _marks(problems: list[Any]) -> set[tuple[str, str, int, int]]:
    return {(p.path, p.message, p.line, p.column) for p in problems}


class ForeignProblems:
    """Records every moment the panel shows a problem its current text does not have."""

    def __init__(self, panel: Any) -> None:
        self.panel = panel
        self.seen: list[tuple[str, set[tuple[str, str, int, int]]]] = []
        self.checks = 0
        for signal in (
            panel.editor.textChanged,
            panel.editor.problems_changed,
            panel.problems.summary_changed,
            panel.problems.problems_set,
            panel.loaded,
        ):
            signal.connect(self.check)
        self.check()

    def check(self, *_args: object) -> None:
        """Compare what is listed and underlined with a fresh validation of the text."""
        self.checks += 1
        text = self.panel.editor.toPlainText()
        belongs = _marks(list(validate_text(text, catalog=self.panel.catalog).problems))
        shown = _marks(self.panel.problems.problems("local")) | _marks(self.panel.editor.problems())
        if shown - belongs:
            self.seen.append((text.splitlines()[2] if text.count("\n") > 2 else text, shown))


# -- B1: the problems belong to the text shown -------------------------------------


def test_switching_pipelines_quickly_never_shows_another_texts_problems(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str, tmp_path: Any
) -> None:
    _first_list_loaded(qtbot, window)
    clean = _create_on_server(sandbox_url, admin_key)
    flawed = _create_on_server(sandbox_url, admin_key)
    flawed_text = _definition_on_server(sandbox_url, admin_key, flawed.id) + "colour: blue\n"
    DraftStore(tmp_path / "drafts").save(PROFILE, flawed.id, flawed_text, "yaml", 1)
    tab = _loaded_list(qtbot, window)
    panel = tab.panel
    foreign = ForeignProblems(panel)

    for _ in range(4):  # each selection lands before the previous one has loaded
        assert tab.select_pipeline(flawed.id)
        assert panel.problems.summary() == "Checking…"
        assert tab.select_pipeline(clean.id)
        assert panel.problems.summary() == "Checking…"
    with qtbot.waitSignal(panel.loaded, timeout=10000):
        assert tab.select_pipeline(flawed.id)
    qtbot.waitUntil(lambda: panel.problems.summary() == "1 problem", timeout=10000)
    assert [p.path for p in panel.problems.problems("local")] == ["colour"]

    # Away from the flawed draft (kept), to the clean pipeline: the marks go at once.
    assert tab.select_pipeline(clean.id)
    with qtbot.waitSignal(panel.loaded, timeout=10000):
        qtbot.mouseClick(tab.unsaved_box.keep_button, Qt.MouseButton.LeftButton)
    assert panel.editor.problems() == []
    qtbot.waitUntil(lambda: panel.is_settled, timeout=10000)
    assert panel.problems.summary() == "No problems"
    assert foreign.checks > 20
    assert foreign.seen == []


def test_the_first_selection_never_shows_the_empty_documents_error(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    tab = _first_list_loaded(qtbot, window)
    panel = tab.panel
    _create_on_server(sandbox_url, admin_key)
    foreign = ForeignProblems(panel)
    # Before: the empty document's "must be a mapping" was listed here, and stayed
    # beside the first pipeline's text until that text's own result came.
    qtbot.waitUntil(lambda: not panel.validator.pending, timeout=10000)
    with qtbot.waitSignal(panel.loaded, timeout=10000):
        tab.connected()  # as at start-up: the first pipeline opens by itself
    assert panel.state_label.text() == "Matches the server."
    qtbot.waitUntil(lambda: panel.is_settled, timeout=10000)
    assert panel.problems.count() == 0
    assert foreign.seen == []


def test_a_draft_survives_being_kept_while_its_pipeline_is_still_loading(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str, tmp_path: Any
) -> None:
    tab = _first_list_loaded(qtbot, window)
    pipeline = _create_on_server(sandbox_url, admin_key)
    drafts = DraftStore(tmp_path / "drafts")
    edited = _definition_on_server(sandbox_url, admin_key, pipeline.id) + "# mine\n"
    drafts.save(PROFILE, pipeline.id, edited, "yaml", 1)
    _loaded_list(qtbot, window)
    with qtbot.waitSignal(tab.panel.loaded, timeout=10000):
        assert tab.select_pipeline(pipeline.id)
        tab.panel.save_draft()  # e.g. the connection changes while the text is on its way
    assert tab.panel.editor.toPlainText() == edited
    assert drafts.load(PROFILE, pipeline.id) is not None


# -- B2: discard asks, names what goes, can be undone -------------------------------


def test_discard_edits_asks_names_what_goes_and_ctrl_z_brings_them_back(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str, tmp_path: Any
) -> None:
    pipeline = _create_on_server(sandbox_url, admin_key)
    tab = _open_pipeline(qtbot, window, pipeline)
    panel = tab.panel
    panel.editor.setPlainText(panel.editor.toPlainText().replace(pipeline.name, "Renamed"))
    panel.editor.moveCursor(panel.editor.textCursor().MoveOperation.End)
    with qtbot.waitSignal(panel.server_checked, timeout=15000) as checked:
        qtbot.keyClicks(panel.editor, "colour: blue")
    assert [p.path for p in checked.args[0]] == ["colour"]
    edited = panel.editor.toPlainText()
    panel.save_draft()

    qtbot.mouseClick(panel.discard_button, Qt.MouseButton.LeftButton)
    box = panel.discard_box
    assert box.isVisible()
    assert box.text() == f"Discard your edits to “{pipeline.name}”: 2 changed lines?"
    assert panel.editor.toPlainText() == edited  # nothing goes before the answer
    qtbot.mouseClick(box.action_button, Qt.MouseButton.LeftButton)

    assert panel.editor.toPlainText() == panel.server_text
    assert not panel.is_dirty
    assert panel.problems.problems("server") == []
    assert panel.server_label.text() == ""
    assert DraftStore(tmp_path / "drafts").load(PROFILE, pipeline.id) is None
    qtbot.waitUntil(lambda: panel.is_settled, timeout=10000)
    assert panel.problems.count() == 0

    panel.editor.setFocus()
    qtbot.keyClick(panel.editor, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert panel.editor.toPlainText() == edited
    assert panel.is_dirty
    assert panel.apply_button.isEnabled()
    qtbot.waitUntil(
        lambda: [p.path for p in panel.problems.problems("local")] == ["colour"], timeout=10000
    )


def test_cancelling_the_discard_question_keeps_the_edits(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    pipeline = _create_on_server(sandbox_url, admin_key)
    panel = _open_pipeline(qtbot, window, pipeline).panel
    edited = panel.editor.toPlainText() + "# one more line\n"
    panel.editor.setPlainText(edited)
    qtbot.mouseClick(panel.discard_button, Qt.MouseButton.LeftButton)
    box = panel.discard_box
    assert "1 changed line?" in box.text()
    with qtbot.waitSignal(box.finished, timeout=5000):
        box.reject()
    assert panel.editor.toPlainText() == edited


# -- B7: a 412 shows the server's newer revision; the merge review shows the clash ---


def test_cancelling_the_merge_shows_the_servers_revision_and_keeps_the_edit(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    pipeline = _create_on_server(sandbox_url, admin_key)
    tab = _open_pipeline(qtbot, window, pipeline)
    panel = tab.panel
    mine = panel.editor.toPlainText().replace(pipeline.name, "Mine")
    _replace_on_server(
        sandbox_url, admin_key, pipeline.id, panel.server_text.replace(pipeline.name, "Theirs")
    )
    panel.editor.setPlainText(mine)
    with qtbot.waitSignal(panel.conflict_shown, timeout=15000) as shown:
        qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    dialog = shown.args[0]
    assert [(r.title(), r.conflict.mine, r.conflict.theirs) for r in dialog.rows] == [
        ("name", "Mine", "Theirs")
    ]
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    row = tab.model.row_of(pipeline.id)
    qtbot.waitUntil(lambda: tab.model.index(row, COLUMNS.index("Rev")).data() == "2", timeout=10000)
    assert tab.meta_labels["Revision"].text() == "2"
    assert tab.model.row_at(row).name == "Theirs"
    assert "revision 2 · your edits are of 1" in panel.title.text()
    assert panel.editor.toPlainText() == mine  # the edits stay, based on revision 1
    assert panel.base_revision == 1
    assert "kept as a draft" in panel.state_label.text()


# -- B8: a new pipeline's name, Create, and nothing selected -------------------------


def test_new_pipeline_takes_an_unused_name_and_create_waits_for_a_valid_document(
    qtbot: QtBot, window: Any
) -> None:
    tab = _loaded_list(qtbot, window)
    panel = tab.panel
    qtbot.mouseClick(tab.new_button, Qt.MouseButton.LeftButton)
    assert "\nname: New pipeline\n" in panel.editor.toPlainText()
    assert not panel.apply_button.isEnabled()  # not checked yet
    qtbot.waitUntil(panel.apply_button.isEnabled, timeout=10000)
    with qtbot.waitSignal(panel.created, timeout=15000):
        qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.model.rowCount() == 1, timeout=10000)

    qtbot.mouseClick(tab.new_button, Qt.MouseButton.LeftButton)
    assert "\nname: New pipeline 2\n" in panel.editor.toPlainText()
    qtbot.waitUntil(panel.apply_button.isEnabled, timeout=10000)
    valid = panel.editor.toPlainText()
    panel.editor.moveCursor(panel.editor.textCursor().MoveOperation.End)
    with qtbot.waitSignal(panel.validator.validated, timeout=10000):
        qtbot.keyClicks(panel.editor, "colour: blue")
        assert not panel.apply_button.isEnabled()  # disabled while it is checked
    assert panel.apply_button.text().replace("&", "") == "Create"
    assert not panel.apply_button.isEnabled()  # and stays so: it is invalid
    panel.apply()  # Ctrl+S or a stray call is refused the same way
    assert not panel._applying
    with qtbot.waitSignal(panel.validator.validated, timeout=10000):
        panel.editor.setPlainText(valid)
    assert panel.apply_button.isEnabled()


def test_with_nothing_selected_no_error_shows_and_nothing_can_be_applied(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    tab = _loaded_list(qtbot, window)
    panel = tab.panel
    qtbot.waitUntil(lambda: not panel.validator.pending, timeout=10000)
    assert panel.editor.toPlainText() == ""
    assert panel.editor.isReadOnly()
    assert panel.editor.problems() == []
    assert panel.problems.count() == 0
    assert panel.problems.summary() == "No problems"
    assert panel.title.text() == "No pipeline selected"
    assert not panel.apply_button.isEnabled()
    assert not panel.discard_button.isEnabled()
    assert not panel.diff_button.isEnabled()

    # Back to nothing after a pipeline was shown (the connection is made again).
    pipeline = _create_on_server(sandbox_url, admin_key)
    _open_pipeline(qtbot, window, pipeline)
    tab.clear()
    qtbot.waitUntil(lambda: not panel.validator.pending, timeout=10000)
    assert panel.editor.toPlainText() == ""
    assert panel.problems.count() == 0
    assert not panel.apply_button.isEnabled()


# -- B9: the smaller ones -----------------------------------------------------------


def test_a_401_message_appears_once(qtbot: QtBot, window: Any) -> None:
    tab = _loaded_list(qtbot, window)
    window.session.require_client().set_api_key("fdk_" + "x" * 40)  # revoked elsewhere
    with qtbot.waitSignal(window.runner.failed, timeout=10000):
        tab.refresh()
    assert window.banner.isVisible()
    shown = "\n".join(visible_texts(window))
    assert shown.count("The API key is invalid, revoked or expired.") == 1


def test_a_parse_errors_position_appears_once(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    pipeline = _create_on_server(sandbox_url, admin_key)
    panel = _open_pipeline(qtbot, window, pipeline).panel
    with qtbot.waitSignal(panel.validator.validated, timeout=10000):
        panel.editor.setPlainText("definition_version: 1\nname: [unclosed\n")
    [problem] = panel.problems.problems("local")
    row = panel.problems.row_item("local", 0)
    assert row is not None
    text = row.text(0)
    assert text.startswith(f"{problem.line}:{problem.column}  error  ")
    assert f"line {problem.line}, column {problem.column}" not in text


def test_the_footer_counts_follow_the_filter(
    qtbot: QtBot, window: Any, sandbox_url: str, admin_key: str
) -> None:
    first = _create_on_server(sandbox_url, admin_key)
    second = _create_on_server(sandbox_url, admin_key)
    text = _definition_on_server(sandbox_url, admin_key, second.id)
    _replace_on_server(sandbox_url, admin_key, second.id, text.replace(second.name, "Zebra feed"))
    tab = _loaded_list(qtbot, window)
    assert tab.summary_label.text().startswith("2 pipelines")
    qtbot.keyClicks(tab.search_edit, "zebra")
    assert tab.summary_label.text().startswith("1 of 2 pipelines")
    tab.search_edit.clear()
    assert tab.summary_label.text().startswith("2 pipelines")
    assert first.id != second.id


def test_last_sync_in_the_list_and_the_metadata_agree_after_start(
    qtbot: QtBot, make_window: Any, make_sandbox: Any
) -> None:
    from console.sandbox.storage.sqlite import mint_key

    server = make_sandbox(demo=False, extra_args=["--sync-seconds", "30"])
    key = mint_key(server.data_dir, account="syncing", kind="admin")
    window = make_window(server.base_url, key)
    pipeline: Pipeline = _create_on_server(server.base_url, key)
    tab = _open_pipeline(qtbot, window, pipeline)
    column = COLUMNS.index("Last sync")

    def shown_pair() -> tuple[str, str]:
        row = tab.model.row_of(pipeline.id)
        return str(tab.model.index(row, column).data()), tab.meta_labels["Last sync"].text()

    assert shown_pair() == ("never", "never")
    qtbot.mouseClick(tab.start_button, Qt.MouseButton.LeftButton)

    def syncing() -> bool:
        tab.refresh()
        shown = tab._shown
        return shown is not None and shown.last_sync_started_at is not None

    qtbot.waitUntil(syncing, timeout=20000)
    with qtbot.waitSignal(tab.pipelines_loaded, timeout=10000):
        tab.refresh()
    cell, metadata = shown_pair()
    assert metadata.startswith("running since")
    assert cell == "running"
