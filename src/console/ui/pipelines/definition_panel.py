"""The definition editor of the Pipelines tab: local and server validation, drafts, apply.

Local problems come from the shared validator on every keystroke (in a worker thread);
the server's dry-run runs about 0.5 s after typing stops and before every apply, and its
problems are listed apart. Edits are written to a draft on disk as they are typed.
"""

from __future__ import annotations

import asyncio
import difflib
import time
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any, Literal

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from console.api.errors import ApiError
from console.api.pipelines import DefinitionFormat, Pipeline
from console.config.drafts import NEW_PIPELINE, DraftStore
from console.definition import (
    MINIMAL_EXAMPLE_YAML,
    Catalog,
    Problem,
    ProblemKind,
    Severity,
    ValidationResult,
    dump_json,
    dump_yaml,
    minimal_example,
    validate_text,
)
from console.definition.merge_text import merge_texts
from console.ui.formatting import format_timestamp
from console.ui.pipelines.dialogs import (
    DiffDialog,
    discard_box,
    unified_diff,
)
from console.ui.pipelines.merge_dialog import MergeDialog
from console.ui.protection import gate_button
from console.ui.session import ConsoleSession
from console.ui.tasks import TaskRunner
from console.ui.widgets.definition_editor import DefinitionEditor
from console.ui.widgets.elided_label import ElidedLabel
from console.ui.widgets.live_validation import LiveValidator, attach_live_validation
from console.ui.widgets.problems_list import ProblemsList

SERVER_CHECK_DEBOUNCE_MS = 500
DRAFT_SAVE_DEBOUNCE_MS = 400
NEW_PIPELINE_NAME = "New pipeline"
NOTHING_SELECTED = "Select a pipeline, or click New pipeline to start one."

# What the editor holds: nothing, a pipeline on its way, a pipeline, or a new one.
Subject = Literal["none", "loading", "pipeline", "new"]


class DefinitionPanel(QWidget):
    """Edit one pipeline's definition (or a new one) and apply it safely."""

    loaded = Signal()  # a definition (or draft) is in the editor
    server_checked = Signal(object)  # list[Problem]; empty when the server accepts it
    applied = Signal(object)  # Pipeline
    created = Signal(object)  # Pipeline
    conflict_shown = Signal(object)  # MergeDialog: Apply met a newer revision
    server_moved = Signal(object)  # Pipeline: the server's newer revision met in a conflict
    settled = Signal()  # the text shown has its local (and any due server) result

    def __init__(
        self,
        session: ConsoleSession,
        runner: TaskRunner,
        drafts: DraftStore,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.runner = runner
        self.drafts = drafts
        self.catalog: Catalog | None = None
        # The names a new pipeline must not take (the tab tells which pipelines it lists).
        self.taken_names: Callable[[], Iterable[str]] = tuple
        self.pipeline: Pipeline | None = None  # the pipeline shown (or being loaded)
        self.subject: Subject = "none"
        # Bumped whenever another document replaces the text: an answer asked for an
        # older document is dropped, even when both texts happen to be equal.
        self.document_id = 0
        self._shown_generation = -1  # the validator generation whose result is shown
        self._local_valid = False
        self._local_result_generation = -1
        self._server_checking = False
        self.server_text = ""  # what the server has (or the starting text of a new one)
        self.base_revision: int | None = None
        # The text of base_revision, the revision the edit started from: the base of the
        # three-way merge when Apply meets a newer revision (None: not known).
        self.base_text: str | None = None
        self.format: DefinitionFormat = "yaml"
        self._loading = False
        self._applying = False
        self._local_result: ValidationResult | None = None

        # Elided in the middle, keeping the revision in view: a long pipeline name must not
        # widen the window (the tooltip has it all).
        self.title = ElidedLabel("No pipeline selected", elide=Qt.TextElideMode.ElideMiddle)
        self.title.setStyleSheet("font-weight: 600;")
        self.format_combo = QComboBox()
        self.format_combo.setAccessibleName("Definition format")
        self.format_combo.addItem("YAML", "yaml")
        self.format_combo.addItem("JSON", "json")
        self.format_combo.setToolTip("Show the definition as YAML or JSON (the same document)")
        self.format_combo.activated.connect(self._format_chosen)
        # Mnemonics: unique with the Pipelines tab's own (tests/ui/test_keyboard.py).
        self.open_button = QPushButton("&Open…")
        self.open_button.clicked.connect(self._choose_file_to_open)
        self.save_button = QPushButton("Sa&ve as…")
        self.save_button.clicked.connect(self._choose_file_to_save)
        self.diff_button = QPushButton("&Diff")
        self.diff_button.setToolTip("Compare your edits with the server's current definition")
        self.diff_button.clicked.connect(self.show_diff)
        self.discard_button = QPushButton("Discard &edits")
        self.discard_button.clicked.connect(self.ask_to_discard)
        self.apply_button = QPushButton("&Apply")
        self.apply_button.setObjectName("primaryButton")
        self.apply_button.clicked.connect(self.apply)
        # The title has a row of its own (it names the pipeline Apply changes), so the
        # buttons beside it cannot squeeze it to a few letters in a narrow window.
        toolbar = QHBoxLayout()
        toolbar.addStretch(1)
        for widget in (
            self.format_combo,
            self.open_button,
            self.save_button,
            self.diff_button,
            self.discard_button,
            self.apply_button,
        ):
            toolbar.addWidget(widget)

        self.editor = DefinitionEditor()
        self.editor.setAccessibleName("Pipeline definition")
        self.editor.setAccessibleDescription(
            "YAML or JSON; problems are underlined and listed below. Ctrl+Space completes."
        )
        self.editor.setPlaceholderText(NOTHING_SELECTED)
        self.problems = ProblemsList()
        self.problems.setAccessibleName("Problems")
        self.state_label = QLabel("")
        self.state_label.setStyleSheet("color: #5c5f66;")
        # Wrapped, and never wider than it is given: "Loading <a long name>…" must not
        # widen the window.
        self.state_label.setWordWrap(True)
        self.state_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.server_label = QLabel("")
        self.server_label.setWordWrap(True)
        status = QHBoxLayout()
        status.addWidget(self.state_label, 1)
        status.addWidget(self.server_label, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.editor)
        splitter.addWidget(self.problems)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addLayout(toolbar)
        layout.addWidget(splitter, 1)
        layout.addLayout(status)

        self.validator = LiveValidator(self._validate_locally, cancellable=True)
        self.validator.validated.connect(self._local_result_ready)
        self.live = attach_live_validation(self.editor, self.validator, self.problems)
        self.live.result_shown.connect(self._local_result_shown)
        self._server_timer = QTimer(self)
        self._server_timer.setSingleShot(True)
        self._server_timer.setInterval(SERVER_CHECK_DEBOUNCE_MS)
        self._server_timer.timeout.connect(self.check_on_server)
        self._draft_timer = QTimer(self)
        self._draft_timer.setSingleShot(True)
        self._draft_timer.setInterval(DRAFT_SAVE_DEBOUNCE_MS)
        self._draft_timer.timeout.connect(self.save_draft)
        self.editor.textChanged.connect(self._edited)
        # Writes refused (a locked production profile): Apply stays, disabled, and says why.
        session.protection.writes_changed.connect(self._sync_buttons)
        self._sync_buttons()
        self._show_nothing()

    # -- state -------------------------------------------------------------------

    @property
    def profile_key(self) -> str:
        """Drafts are kept per connection profile."""
        profile = self.session.profile
        return profile.name if profile is not None else "(none)"

    @property
    def draft_key(self) -> int | str:
        """The draft slot of what is being edited."""
        return self.pipeline.id if self.pipeline is not None else NEW_PIPELINE

    @property
    def is_dirty(self) -> bool:
        """Whether the editor holds edits that are not on the server."""
        return self.editor.toPlainText() != self.server_text

    @property
    def is_new(self) -> bool:
        """Editing a pipeline that does not exist yet."""
        return self.subject == "new"

    @property
    def is_valid_locally(self) -> bool:
        """The text shown has been checked here and has no errors."""
        return self._shown_generation == self.validator.generation and self._local_valid

    @property
    def is_settled(self) -> bool:
        """Every check due for the text shown has answered (screenshots wait for this)."""
        if self.subject == "none":
            return True
        return (
            self.subject != "loading"
            and self._shown_generation == self.validator.generation
            and not self.validator.pending
            and not self._server_timer.isActive()
            and not self._server_checking
        )

    def revalidate(self) -> None:
        """Check the text shown again (the catalogue changed); nothing shown, nothing checked."""
        if self.subject in ("pipeline", "new"):
            self.validator.schedule(self.editor.toPlainText())
            self._sync_buttons()

    def _maybe_settled(self) -> None:
        if self.is_settled:
            self.settled.emit()

    def _validate_locally(self, text: str, should_stop: Callable[[], bool]) -> ValidationResult:
        # Runs in the validator's worker thread; the catalogue object is immutable.
        return validate_text(text, catalog=self.catalog, should_stop=should_stop)

    def _local_result_ready(self, result: object, generation: int) -> None:
        if isinstance(result, ValidationResult):
            self._local_result = result
            self._local_result_generation = generation

    def _local_result_shown(self, generation: int) -> None:
        # A failure skips _local_result_ready: then nothing says the text is valid.
        result = self._local_result
        self._local_valid = (
            result is not None
            and self._local_result_generation == generation
            and not any(p.severity is Severity.ERROR for p in result.problems)
        )
        self._shown_generation = generation
        self._sync_buttons()
        self._maybe_settled()

    def _can_apply(self, dirty: bool) -> bool:
        if self.session.client is None or self._applying:
            return False
        if self.subject == "new":
            return self.is_valid_locally  # Create waits until the document is valid
        archived = self.pipeline is not None and self.pipeline.is_archived
        return self.subject == "pipeline" and not archived and dirty

    def _sync_buttons(self, dirty: bool | None = None) -> None:
        if dirty is None:
            dirty = self.is_dirty
        has_document = self.subject in ("pipeline", "new")
        self.apply_button.setText("Cre&ate" if self.is_new else "&Apply")
        gate_button(self.session.protection, self.apply_button, self._can_apply(dirty))
        self.diff_button.setEnabled(self.subject == "pipeline")
        self.discard_button.setEnabled(has_document and dirty)
        for widget in (self.format_combo, self.open_button, self.save_button):
            widget.setEnabled(has_document)
        archived = self.pipeline is not None and self.pipeline.is_archived
        self.editor.setReadOnly(not has_document or (self.subject == "pipeline" and archived))

    # -- loading -----------------------------------------------------------------

    def load_pipeline(self, pipeline: Pipeline) -> Coroutine[Any, Any, None]:
        """Show `pipeline` at once as loading; the returned coroutine fetches its text.

        The switch happens before the coroutine first runs, so nothing of the previous
        document (text, problems, squiggles, buttons) is left beside the new selection.
        """
        if self._draft_timer.isActive():
            self.save_draft()  # the previous document's last keystrokes
        self.subject = "loading"
        self.pipeline = pipeline
        self.server_text = ""
        self.base_revision = None
        self.base_text = None
        self.title.setText(f"{pipeline.name}: loading…")
        self.title.setToolTip(pipeline.name)
        self.editor.setPlaceholderText(f"Loading {pipeline.name}…")
        self._set_text("", self.format)
        self.problems.set_checking("local", True)
        self.state_label.setText(f"Loading {pipeline.name}…")
        return self._load_pipeline(pipeline, self.document_id)

    async def _load_pipeline(self, pipeline: Pipeline, document_id: int) -> None:
        try:
            definition = await self.session.pipelines.get_definition(
                pipeline.id, format=self.format
            )
        except ApiError:
            if self.document_id == document_id:
                self.problems.set_checking("local", False)
                self.state_label.setText(f"Could not load {pipeline.name}.")
                self.editor.setPlaceholderText(f"Could not load {pipeline.name}.")
            raise
        if self.document_id != document_id:
            return  # another document was opened meanwhile
        self.subject = "pipeline"
        server_revision = definition.revision or pipeline.revision
        self.base_revision = server_revision
        self.server_text = definition.text
        self.base_text = definition.text
        draft = self.drafts.load(self.profile_key, pipeline.id)
        self.title.setText(f"{pipeline.name}: revision {server_revision}")
        if draft is not None and draft.text != definition.text:
            self._set_text(draft.text, draft.format)
            note = f"Restored your unapplied draft from {format_timestamp(draft.saved_at)}"
            if draft.base_revision is not None and draft.base_revision != server_revision:
                # Apply must meet the newer revision as a conflict (412), not overwrite it.
                self.base_revision = draft.base_revision
                self.base_text = draft.base_text
                note += (
                    f"; it was based on revision {draft.base_revision}, the server is now at "
                    f"{server_revision}: Apply will merge the two for you to review"
                )
            self.state_label.setText(note + ".")
        else:
            self._set_text(definition.text, self.format)
            self.state_label.setText("Matches the server.")
        self.loaded.emit()

    def example_text(self) -> str:
        """The documented minimal example, with this account's first connections.

        Its name is one no listed pipeline has ("New pipeline", then "New pipeline 2",
        ...), so creating it twice never makes two pipelines of the same name.
        """
        catalog = self.catalog
        if catalog is None or not (
            catalog.source_connection_ids and catalog.destination_connection_ids
        ):
            text = MINIMAL_EXAMPLE_YAML
        else:
            text = minimal_example(
                min(catalog.source_connection_ids), min(catalog.destination_connection_ids)
            )
        return text.replace(
            f"\nname: {_EXAMPLE_NAME}\n", f"\nname: {unused_name(self.taken_names())}\n", 1
        )

    def new_from_example(self) -> None:
        """Start a new pipeline from the documented minimal example (or its draft)."""
        if self._draft_timer.isActive():
            self.save_draft()
        example = self.example_text()
        self.subject = "new"
        self.pipeline = None
        self.base_revision = None
        self.base_text = None
        self.server_text = example
        self.title.setText("New pipeline")
        self.title.setToolTip("")
        draft = self.drafts.load(self.profile_key, NEW_PIPELINE)
        if draft is not None and draft.text != example:
            self._set_text(draft.text, draft.format)
            self.state_label.setText(
                f"Restored your new-pipeline draft from {format_timestamp(draft.saved_at)}."
            )
        else:
            self._set_text(example, "yaml")
            self.state_label.setText("Started from the documented minimal example.")
        self.loaded.emit()

    def clear(self) -> None:
        """Nothing selected (the connection changed)."""
        self._draft_timer.stop()
        self.catalog = None
        self.show_nothing()

    def show_nothing(self) -> None:
        """No pipeline selected: an empty, read-only editor with no problems."""
        if self._draft_timer.isActive():
            self.save_draft()
        self._show_nothing()

    def _show_nothing(self) -> None:
        self.subject = "none"
        self.pipeline = None
        self.server_text = ""
        self.base_revision = None
        self.base_text = None
        self._set_text("", self.format)
        self.title.setText("No pipeline selected")
        self.title.setToolTip("")
        self.editor.setPlaceholderText(NOTHING_SELECTED)
        self.state_label.setText("")
        self._maybe_settled()

    def _clear_server_results(self) -> None:
        """The last server check spoke of another text: forget it and stop asking."""
        self._server_timer.stop()
        self.runner.cancel("pipelines.dry-run")
        self.server_label.setText("")
        self.problems.set_problems("server", [])

    def _show_format(self, fmt: str) -> None:
        """Make `fmt` the format of the text: the field, the combo, the highlighting."""
        self.format = "json" if fmt == "json" else "yaml"
        self.format_combo.setCurrentIndex(self.format_combo.findData(self.format))
        self.editor.set_format(self.format)

    def _set_text(self, text: str, fmt: str) -> None:
        """Put another document in the editor: none of the old one's results stay."""
        self.document_id += 1
        self._draft_timer.stop()  # callers have kept or dropped the old edits already
        # Cleared before the text changes, so no moment shows old marks on the new text.
        self._clear_server_results()
        self.live.document_replaced()
        self._loading = True
        try:
            self._show_format(fmt)
            self.editor.setPlainText(text)
        finally:
            self._loading = False
        if self.subject in ("pipeline", "new"):
            self.validator.schedule(text)
            self.validator.flush()  # a document just opened: no keystrokes to wait out
        else:
            self.validator.cancel()
        self._sync_buttons()

    # -- editing -----------------------------------------------------------------

    def _edited(self) -> None:
        # Runs on every keystroke: compare the whole text with the server's once (~0.4 ms
        # for 3,000 lines), not once per use.
        dirty = self.is_dirty
        self._sync_buttons(dirty)
        if self._loading:
            return
        self.state_label.setText("Unapplied edits (kept as a draft)." if dirty else "")
        self._draft_timer.start()
        if self.session.client is not None:
            self._server_timer.start()

    def save_draft(self) -> None:
        """Write the editor to its draft now (or drop the draft when nothing is edited)."""
        self._draft_timer.stop()
        if self.subject not in ("pipeline", "new"):
            return  # an empty or loading editor says nothing about any draft
        if self.is_dirty:
            self.drafts.save(
                self.profile_key,
                self.draft_key,
                self.editor.toPlainText(),
                self.format,
                self.base_revision,
                self.base_text,
            )
        else:
            self.drafts.discard(self.profile_key, self.draft_key)

    def ask_to_discard(self) -> None:
        """Ask first, naming the pipeline and how many lines would go; then discard."""
        if not self.is_dirty or self.subject not in ("pipeline", "new"):
            return
        name = self.pipeline.name if self.pipeline is not None else "the new pipeline"
        lines = changed_lines(self.server_text, self.editor.toPlainText())
        self.discard_box = discard_box(self, name, lines)
        self.discard_box.ask(self.discard_edits)

    def discard_edits(self) -> None:
        """Back to the server's text as one undoable edit; draft and server results go.

        Ctrl+Z in the editor brings the edits back (and with them, their draft).
        """
        self.drafts.discard(self.profile_key, self.draft_key)
        self._clear_server_results()
        self.live.document_replaced()  # the edits' problems go with them
        self._replace_text_undoably(self.server_text)
        self.validator.flush()
        self._draft_timer.stop()
        self.state_label.setText("Edits discarded: Ctrl+Z in the editor brings them back.")
        self._sync_buttons()
        self._maybe_settled()

    def _replace_text_undoably(self, text: str) -> None:
        """Replace the whole text through the cursor, not setPlainText: Ctrl+Z undoes it."""
        self._loading = True
        try:
            cursor = self.editor.textCursor()
            cursor.beginEditBlock()
            cursor.select(QTextCursor.SelectionType.Document)
            cursor.insertText(text)
            cursor.endEditBlock()
        finally:
            self._loading = False

    def _format_chosen(self, index: int) -> None:
        target = str(self.format_combo.itemData(index))
        if target != self.format:
            self.convert_to(target)

    def convert_to(self, target: str) -> bool:
        """Show the same document as YAML or JSON; refuses while it does not parse."""
        result = validate_text(self.editor.toPlainText(), catalog=None)
        if result.document is None:
            self.format_combo.setCurrentIndex(self.format_combo.findData(self.format))
            self.state_label.setText(
                "Fix the syntax errors first: a document that does not parse cannot be converted."
            )
            return False
        dump = dump_json if target == "json" else dump_yaml
        original = self.editor.toPlainText()
        was_dirty = self.is_dirty
        converted = dump(result.document)
        if not was_dirty:
            # Converting is not an edit: the server's text follows the format too.
            self.server_text = converted
        self._show_format(target)
        # Positions of the old text mean nothing in the converted one.
        self._clear_server_results()
        self.live.document_replaced()
        self._replace_text_undoably(converted)
        self.validator.schedule(converted)
        note = f"Shown as {self.format.upper()}."
        if _has_comments(original, result.extra.get("format")):
            note += " Comments are not carried over by a conversion: Ctrl+Z restores them."
        self.state_label.setText(note)
        self._sync_buttons()
        return True

    # -- files -------------------------------------------------------------------

    def _choose_file_to_open(self) -> None:
        dialog = QFileDialog(self, "Open a pipeline definition")
        dialog.setNameFilters(["Definitions (*.yaml *.yml *.json)", "All files (*)"])
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(lambda path: self.open_file(Path(path)))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def open_file(self, path: Path) -> bool:
        """Load a file into the editor (an edit, applied only on Apply or Create)."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.state_label.setText(f"Could not open {path.name}: {exc}")
            return False
        is_json = path.suffix.lower() == ".json" or text.lstrip().startswith("{")
        self._show_format("json" if is_json else "yaml")
        self.live.document_replaced()  # the old text's marks do not fit the file's
        self._replace_text_undoably(text)
        self._edited()  # an edit like any other: draft, server check, buttons
        self.state_label.setText(f"Opened {path.name}: not applied yet.")
        return True

    def _choose_file_to_save(self) -> None:
        dialog = QFileDialog(self, "Save the definition")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("yaml" if self.format == "yaml" else "json")
        dialog.fileSelected.connect(lambda path: self.save_file(Path(path)))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def save_file(self, path: Path) -> bool:
        """Write the editor's text to `path`; a failure keeps the text and says why."""
        try:
            path.write_text(self.editor.toPlainText(), encoding="utf-8")
        except OSError as exc:
            self.state_label.setText(f"Could not save to {path}: {exc}. Your text is unchanged.")
            return False
        self.state_label.setText(f"Saved to {path.name}.")
        return True

    # -- diff --------------------------------------------------------------------

    def show_diff(self) -> DiffDialog | None:
        """The edits against the server's current definition."""
        if self.pipeline is None:
            return None
        diff = unified_diff(
            self.server_text,
            self.editor.toPlainText(),
            server_label=f"server, revision {self.base_revision}",
        )
        dialog = DiffDialog(diff, self)
        dialog.finished.connect(dialog.deleteLater)
        self.diff_dialog = dialog
        dialog.open()
        return dialog

    # -- server checks -----------------------------------------------------------

    def check_on_server(self) -> None:
        """Dry-run the text on the server (a newer check supersedes an older one)."""
        self._server_timer.stop()
        if (
            self.session.client is None
            or self.subject not in ("pipeline", "new")
            or not self.editor.toPlainText().strip()
        ):
            self._maybe_settled()
            return
        self.runner.start(self._server_check(), name="pipelines.dry-run")

    async def _server_check(self) -> list[Problem] | None:
        self._server_checking = True
        try:
            return await self._ask_server()
        finally:
            self._server_checking = False
            self._maybe_settled()

    async def _ask_server(self) -> list[Problem] | None:
        text = self.editor.toPlainText()
        document_id = self.document_id
        pipeline_id = self.pipeline.id if self.pipeline is not None else None
        try:
            await self.session.pipelines.validate(text, format=self.format, pipeline_id=pipeline_id)
            problems: list[Problem] = []
        except ApiError as error:
            if (
                error.is_network_error
                or error.status in (401, 403, 404, 429)
                or error.status >= 500
            ):
                if document_id == self.document_id:
                    self.server_label.setText(f"Server check unavailable: {error.message}")
                    self.server_label.setStyleSheet("color: #7a5200;")
                return None
            problems = self._problems_from_server(error)
        if document_id != self.document_id or text != self.editor.toPlainText():
            return None  # another document, or typed meanwhile: a newer check is due
        self.problems.set_problems("server", problems)
        if problems:
            # The automatic check applies nothing anyway: "not applied" is said only when an
            # Apply was refused (the state line, below).
            count = len(problems)
            self.server_label.setText(
                f"Server check: {count} problem" + ("" if count == 1 else "s")
            )
            self.server_label.setStyleSheet("color: #a61b0f;")
        else:
            self.server_label.setText("Server check: the definition is valid.")
            self.server_label.setStyleSheet("color: #11643a;")
        self.server_checked.emit(problems)
        return problems

    def _problems_from_server(self, error: ApiError) -> list[Problem]:
        """Server problems at the positions of the local problems with the same path."""
        local = {p.path: p for p in (self._local_result.problems if self._local_result else ())}
        kind = {
            "INVALID_PAYLOAD": ProblemKind.PARSE,
            "UNPROCESSABLE": ProblemKind.SHAPE,
        }.get(error.code, ProblemKind.SEMANTICS)
        problems = []
        for item in error.problems:
            path = item.field or ""
            twin = local.get(path)
            line, column = (twin.line, twin.column) if twin is not None else (1, 1)
            problems.append(Problem(path, item.message, line, column, kind))
        return problems

    # -- apply / create ----------------------------------------------------------

    def apply(self) -> None:
        """Create or apply, after a server dry-run (one at a time: no double create)."""
        if not self._can_apply(self.is_dirty):
            return
        if not self.session.protection.permit("Create" if self.is_new else "Apply"):
            return
        # Ctrl+S can come while completion is open: its choices belong to the edit just sent.
        popup = self.editor.completer.popup()
        if popup is not None:
            popup.hide()
        self._applying = True
        self._sync_buttons()
        task = self.runner.start(self._create() if self.is_new else self._apply())
        task.add_done_callback(self._apply_finished)

    def _apply_finished(self, _task: object) -> None:
        self._applying = False
        self._sync_buttons()

    async def _dry_run_passes(self) -> bool:
        self.runner.cancel("pipelines.dry-run")
        document_id = self.document_id
        problems = await self._server_check()
        if document_id != self.document_id:
            return False  # another document is shown now: nothing is sent, nothing said
        if problems is None:
            reason = self.server_label.text() or "the text changed during the check"
            self.state_label.setText(f"Not applied: {reason}. Try again.")
        elif problems:
            self.state_label.setText("Not applied: fix the server's problems listed below.")
        return problems == []

    async def _apply(self, *, if_match: int | None = None) -> None:
        pipeline = self.pipeline
        profile_key = self.profile_key  # the connection may change while we wait
        if pipeline is None or not await self._dry_run_passes():
            return
        if not self._showing(pipeline):
            return  # another pipeline was opened during the check: nothing is sent
        if not self.session.protection.permit("Apply"):
            return  # the unlock ran out (or was ended) during the check: nothing is sent
        text = self.editor.toPlainText()
        try:
            updated = await self.session.pipelines.replace_definition(
                pipeline.id,
                text,
                format=self.format,
                if_match=if_match if if_match is not None else self.base_revision,
            )
        except ApiError as error:
            if error.status == 412:
                if self._showing(pipeline):
                    await self._resolve_conflict(pipeline, text)
                return
            raise
        self.drafts.discard(profile_key, pipeline.id)
        if self._showing(pipeline):  # still the one on screen
            self._applied(updated, text, unchanged=updated.revision == pipeline.revision)
        self.applied.emit(updated)

    def _showing(self, pipeline: Pipeline) -> bool:
        """Whether `pipeline` is still the one in the editor (refreshes replace the object)."""
        return self.pipeline is not None and self.pipeline.id == pipeline.id

    def pipeline_updated(self, pipeline: Pipeline) -> None:
        """Fresh metadata of the pipeline on screen (status changes, archiving)."""
        if self._showing(pipeline):
            self.pipeline = pipeline
            self._sync_buttons()

    def _applied(self, pipeline: Pipeline, text: str, *, unchanged: bool = False) -> None:
        self.subject = "pipeline"
        self.pipeline = pipeline
        self.base_revision = pipeline.revision
        self.server_text = text
        self.base_text = text
        self.drafts.discard(self.profile_key, pipeline.id)
        self.title.setText(f"{pipeline.name}: revision {pipeline.revision}")
        if unchanged:
            self.state_label.setText(
                f"Nothing to apply: the document is the same as revision {pipeline.revision} "
                "(comments and layout are kept)."
            )
        else:
            self.state_label.setText(
                f"Applied: revision {pipeline.revision} at {time.strftime('%H:%M:%S')}."
            )
        self._sync_buttons()

    async def _resolve_conflict(self, pipeline: Pipeline, mine: str) -> None:
        """Merge the edit with the server's newer revision, for the user to review and apply.

        Nothing is applied without the user's "Apply merged"; the draft keeps the edit
        whatever happens. Every await is followed by a check that the same pipeline and
        the same text are still on screen: a late answer never acts on another one.
        """
        self.save_draft()  # whatever happens next, the edits survive
        document_id = self.document_id
        base_revision = self.base_revision
        try:
            theirs = await self.session.pipelines.get_definition(pipeline.id, format=self.format)
            fresh = await self.session.pipelines.get(pipeline.id)
        except ApiError as error:
            if error.status != 404:
                raise
            if self._still_editing(pipeline, document_id, mine):
                self.state_label.setText(
                    f"Not applied: “{pipeline.name}” is no longer on the server. Your edits "
                    "are kept as a draft (Save as… writes them to a file)."
                )
            return
        # The list and the metadata show the server's revision from now on, whatever
        # is decided: the edits' base revision stays, so a later Apply meets it again.
        if self._showing(fresh):
            self.pipeline = fresh
            self.title.setText(
                f"{fresh.name}: revision {fresh.revision} · your edits are of {base_revision}"
            )
            self._sync_buttons()
        self.server_moved.emit(fresh)
        if not self._still_editing(pipeline, document_id, mine):
            return  # another pipeline, or other text, is on screen now: nothing is asked
        if fresh.is_archived:
            self.state_label.setText(
                f"Not applied: “{fresh.name}” was archived meanwhile. Your edits are kept "
                "as a draft (Save as… writes them to a file)."
            )
            return
        try:
            result = await asyncio.to_thread(merge_texts, self.base_text, mine, theirs.text)
        except ValueError as error:  # MergeInputError, or a document nested too deep
            if self._still_editing(pipeline, document_id, mine):
                self.state_label.setText(
                    f"Not applied, and not merged: {error}. Your edits are kept as a draft."
                )
            return
        if not self._still_editing(pipeline, document_id, mine):
            return
        dialog = MergeDialog(
            result,
            mine,
            name=fresh.name,
            base_revision=base_revision,
            their_revision=theirs.revision,
            parent=self,
        )
        decided: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def decide(code: int) -> None:
            if not decided.done():
                decided.set_result(code == int(QDialog.DialogCode.Accepted))

        dialog.finished.connect(decide)
        dialog.finished.connect(dialog.deleteLater)
        self.conflict_dialog = dialog
        dialog.open()
        self.conflict_shown.emit(dialog)
        accepted = await decided
        if not self._still_editing(pipeline, document_id, mine):
            return  # another pipeline was opened meanwhile; the draft keeps the edits
        if not accepted:
            self.state_label.setText(
                "Not applied: the server has a newer revision. Your edits are kept as a draft."
            )
            return
        merged = dialog.merged.text
        # The merge is based on their revision now: a later conflict merges from there.
        self.server_text = theirs.text
        self.base_text = theirs.text
        self.base_revision = theirs.revision
        if merged != mine:
            self._replace_text_undoably(merged)
            self._edited()
        self.save_draft()
        refusal = self.session.protection.refusal()
        if refusal is not None:
            # Writes were locked again while the review was open: the merge stays, unsent.
            self.state_label.setText(f"Not applied: {refusal} The merged edit is kept as a draft.")
            return
        await self._apply(if_match=theirs.revision)

    def _still_editing(self, pipeline: Pipeline, document_id: int, text: str) -> bool:
        """Whether `pipeline` is on screen with the same document and text as before."""
        return (
            self._showing(pipeline)
            and self.document_id == document_id
            and self.editor.toPlainText() == text
        )

    async def _create(self) -> None:
        profile_key = self.profile_key
        if not await self._dry_run_passes() or not self.is_new:
            return
        if not self.session.protection.permit("Create"):
            return  # the unlock ran out (or was ended) during the check: nothing is sent
        text = self.editor.toPlainText()
        created = await self.session.pipelines.create(text, format=self.format)
        self.drafts.discard(profile_key, NEW_PIPELINE)
        if self.is_new:
            self._applied(created, text)
        self.created.emit(created)

    def shutdown(self) -> None:
        """Flush the draft and stop background validation."""
        if self._draft_timer.isActive():
            self.save_draft()
        self._server_timer.stop()
        self.validator.shutdown()


_EXAMPLE_NAME = "Orders to warehouse"


def unused_name(taken: Iterable[str]) -> str:
    """ "New pipeline", or "New pipeline N" with the smallest N >= 2 no name in `taken` has."""
    names = {name.casefold() for name in taken}
    if NEW_PIPELINE_NAME.casefold() not in names:
        return NEW_PIPELINE_NAME
    number = 2
    while f"{NEW_PIPELINE_NAME} {number}".casefold() in names:
        number += 1
    return f"{NEW_PIPELINE_NAME} {number}"


def changed_lines(before: str, after: str) -> int:
    """How many lines differ between two texts (a replaced line counts once)."""
    matcher = difflib.SequenceMatcher(None, before.splitlines(), after.splitlines(), False)
    return sum(
        max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
    )


def _has_comments(text: str, fmt: object) -> bool:
    """Whether YAML text holds a comment (a `#` at a line start or after a space)."""
    if fmt == "json":
        return False
    return any(line.lstrip().startswith("#") or " #" in line for line in text.splitlines())
