"""The Pipelines tab: list, lifecycle actions, metadata, and the definition editor."""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import QItemSelection, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from console.api.errors import ApiError
from console.api.pipelines import Pipeline
from console.common.contract import PIPELINE_STATUSES
from console.config.drafts import DraftStore
from console.definition import HOOK_EVENTS, TRANSFORMATION_TYPES, Catalog
from console.ui.formatting import format_relative, format_timestamp
from console.ui.pipelines.definition_panel import DefinitionPanel
from console.ui.pipelines.dialogs import UnsavedEditsBox, archive_box, force_stop_box
from console.ui.pipelines.model import (
    STATUS_COLUMN,
    PipelinesTableModel,
    pipelines_filter,
    sync_running,
)
from console.ui.session import ConsoleSession
from console.ui.tasks import TaskRunner
from console.ui.widgets.row_table import select_row, selected_row
from console.ui.widgets.status_badge import StatusBadgeDelegate, badge_label_style

LIVE_POLL_MS = 1000


class PipelinesTab(QWidget):
    """Pipelines of the connected account."""

    pipelines_loaded = Signal(int)
    pipeline_changed = Signal(object)  # Pipeline, after an action answered

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
        self.model = PipelinesTableModel()
        self.proxy = pipelines_filter()
        self.proxy.setSourceModel(self.model)
        self._shown: Pipeline | None = None
        self._first_load = True
        self.has_loaded = False  # the list has been fetched at least once

        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Filter by name or id")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self.proxy.set_text)
        self.status_combo = QComboBox()
        self.status_combo.addItem("All statuses", None)
        for status in PIPELINE_STATUSES:
            self.status_combo.addItem(status.capitalize(), status)
        self.status_combo.currentIndexChanged.connect(
            lambda _i: self.proxy.set_status(self.status_combo.currentData())
        )
        self.archived_box = QCheckBox("Show archived")
        self.archived_box.toggled.connect(lambda _on: self.refresh())
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.new_button = QPushButton("New pipeline")
        self.new_button.clicked.connect(self.new_pipeline)
        filters = QHBoxLayout()
        filters.addWidget(self.search_edit, 1)
        filters.addWidget(self.status_combo)
        row2 = QHBoxLayout()
        row2.addWidget(self.archived_box)
        row2.addStretch(1)
        row2.addWidget(self.refresh_button)
        row2.addWidget(self.new_button)

        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(30)
        self.table.setItemDelegateForColumn(STATUS_COLUMN, StatusBadgeDelegate(self.table))
        header = self.table.horizontalHeader()
        # The server's order (newest first) until the user clicks a header.
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column, width in ((1, 92), (2, 96), (3, 96), (4, 40)):
            self.table.setColumnWidth(column, width)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.summary_label = QLabel("Not loaded")
        for changed in (self.proxy.modelReset, self.proxy.rowsInserted, self.proxy.rowsRemoved):
            changed.connect(lambda *_: self._update_summary() if self.has_loaded else None)
        self.summary_label.setStyleSheet("color: #5c5f66;")
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(filters)
        left_layout.addLayout(row2)
        left_layout.addWidget(self.table, 1)
        left_layout.addWidget(self.summary_label)

        self.status_badge = QLabel("")
        self.status_badge.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.meta_labels: dict[str, QLabel] = {}
        meta = QFormLayout()
        meta.addRow("Status", self.status_badge)
        for name in ("Id", "Revision", "Created", "Updated", "Last sync", "Last error"):
            label = QLabel("—")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            self.meta_labels[name] = label
            meta.addRow(name, label)
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start_selected)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(lambda: self.stop_selected(force=False))
        self.force_button = QPushButton("Force stop…")
        self.force_button.clicked.connect(self.force_stop_selected)
        self.archive_button = QPushButton("Archive…")
        self.archive_button.clicked.connect(self.archive_selected)
        actions = QHBoxLayout()
        for button in (self.start_button, self.stop_button, self.force_button, self.archive_button):
            actions.addWidget(button)
        actions.addStretch(1)
        meta_box = QGroupBox("Pipeline")
        meta_layout = QVBoxLayout(meta_box)
        meta_layout.addLayout(meta)
        meta_layout.addLayout(actions)

        left_splitter = QSplitter(Qt.Orientation.Vertical)
        left_splitter.addWidget(left)
        left_splitter.addWidget(meta_box)
        left_splitter.setStretchFactor(0, 3)
        left_splitter.setStretchFactor(1, 2)

        self.panel = DefinitionPanel(session, runner, drafts)
        self.panel.applied.connect(self._after_apply)
        self.panel.created.connect(self._after_create)
        self.panel.server_moved.connect(self._after_apply)
        self.panel.taken_names = lambda: (p.name for p in self.model.all_rows())
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left_splitter)
        splitter.addWidget(self.panel)
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 6)
        splitter.setSizes([580, 680])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self._poll = QTimer(self)
        self._poll.setInterval(LIVE_POLL_MS)
        self._poll.timeout.connect(self._poll_tick)
        self._show_metadata(None)

    # -- loading -----------------------------------------------------------------

    def refresh(self) -> None:
        """Reload the list (a newer refresh supersedes a running one)."""
        if self.session.client is None:
            return
        self.runner.start(self._load(), name="pipelines.refresh")

    def connected(self) -> None:
        """A connection is ready: load the list and the editor's catalogue."""
        self._first_load = True
        self.refresh()
        self.runner.start(self._load_catalog(), name="pipelines.catalog")

    def clear(self) -> None:
        """Forget everything of the previous connection (its answers must not land here)."""
        for name in ("refresh", "open", "dry-run", "catalog"):
            self.runner.cancel(f"pipelines.{name}")
        self._poll.stop()
        self.model.set_rows([])
        self.has_loaded = False
        self._shown = None
        self._show_metadata(None)
        self.panel.clear()
        self.summary_label.setText("Not connected")

    async def _load(self) -> None:
        self.summary_label.setText("Loading pipelines…")
        pipelines = await self.session.pipelines.list_all(
            include_archived=self.archived_box.isChecked()
        )
        self.model.set_rows(pipelines)
        self._update_summary()
        shown = self._shown
        if shown is not None:
            fresh = next((p for p in pipelines if p.id == shown.id), None)
            if fresh is not None:
                self._reselect(fresh)
        elif self._first_load and pipelines:
            self._reselect(pipelines[0])
        self._first_load = False
        self._watch_transitions()
        self.has_loaded = True
        self.pipelines_loaded.emit(len(pipelines))

    async def _load_catalog(self) -> None:
        catalog = self.session.catalog
        connections = await catalog.connections()
        hooks = await catalog.hooks()
        self.panel.catalog = Catalog.of(
            ((c.id, c.role) for c in connections), (h.id for h in hooks)
        )
        self.panel.editor.set_completion_catalog(
            [(c.id, c.name, c.role) for c in connections],
            [(h.id, h.name) for h in hooks],
            HOOK_EVENTS,
            TRANSFORMATION_TYPES,
        )
        self.panel.revalidate()

    def _update_summary(self) -> None:
        pipelines = self.model.all_rows()
        running = sum(1 for p in pipelines if p.status == "running")
        failed = sum(1 for p in pipelines if p.status == "failed")
        shown = self.proxy.rowCount()  # the counts follow the filter: "1 of 5 pipelines"
        text = f"{len(pipelines)} pipelines" if shown == len(pipelines) else ""
        text = (text or f"{shown} of {len(pipelines)} pipelines") + f" · {running} running"
        if failed:
            text += f" · {failed} failed"
        self.summary_label.setText(text)

    def _watch_transitions(self) -> None:
        """Poll while anything deploys, stops or syncs, so badges and times move by themselves."""
        if any(p.is_transitioning or sync_running(p) for p in self.model.all_rows()):
            if not self._poll.isActive():
                self._poll.start()
        else:
            self._poll.stop()

    def _poll_tick(self) -> None:
        if "pipelines.refresh" not in self.runner.names:  # never pile refreshes up
            self.refresh()

    # -- selection ---------------------------------------------------------------

    def selected_pipeline(self) -> Pipeline | None:
        """The pipeline of the selected row."""
        pipeline = selected_row(self.table)
        return pipeline if isinstance(pipeline, Pipeline) else None

    def select_pipeline(self, pipeline_id: int) -> bool:
        """Select the row of `pipeline_id` (asking first about unapplied edits)."""
        return select_row(self.table, pipeline_id)

    def _reselect(self, pipeline: Pipeline) -> None:
        if self.model.row_of(pipeline.id) is None:
            return
        # Selecting for the user's benefit is not the user choosing: no switch question.
        self.table.selectionModel().blockSignals(True)
        select_row(self.table, pipeline.id)
        self.table.selectionModel().blockSignals(False)
        self.table.viewport().update()
        if self._shown is None or self._shown.id != pipeline.id:
            self._open(pipeline)
        else:
            self._shown = pipeline
            self._show_metadata(pipeline)
            self.panel.pipeline_updated(pipeline)

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        pipeline = self.selected_pipeline()
        if pipeline is None or (self._shown is not None and pipeline.id == self._shown.id):
            return
        if self.panel.is_dirty and (self._shown is not None or self.panel.is_new):
            self._ask_before_switching(pipeline)
        else:
            self._open(pipeline)

    def _ask_before_switching(self, target: Pipeline) -> None:
        name = self._shown.name if self._shown is not None else "The new pipeline"
        shown = self._shown

        def back_to_the_edited_one() -> None:
            if shown is not None:
                self._reselect(shown)

        self.unsaved_box = UnsavedEditsBox(self, name)
        self.unsaved_box.ask(self.panel, lambda: self._open(target), back_to_the_edited_one)

    def _open(self, pipeline: Pipeline) -> None:
        self._shown = pipeline
        self._show_metadata(pipeline)
        self.runner.start(self.panel.load_pipeline(pipeline), name="pipelines.open")

    def new_pipeline(self) -> None:
        """Start a new pipeline in the editor; unapplied edits are kept as their draft."""
        if self.panel.is_dirty and self._shown is not None:
            self.panel.save_draft()  # the draft keeps them; "New" never destroys edits
        self._shown = None
        self.table.clearSelection()
        self._show_metadata(None)
        self.panel.new_from_example()

    def _show_metadata(self, pipeline: Pipeline | None) -> None:
        for label in self.meta_labels.values():
            label.setText("—")
        if pipeline is None:
            self.status_badge.setText("")
            self.status_badge.setStyleSheet("")
        else:
            self.status_badge.setText(pipeline.status)
            self.status_badge.setStyleSheet(badge_label_style(pipeline.status))
            values = {
                "Id": str(pipeline.id),
                "Revision": str(pipeline.revision),
                "Created": format_timestamp(pipeline.created_at),
                "Updated": format_timestamp(pipeline.updated_at),
                "Last sync": _last_sync(pipeline),
                "Last error": pipeline.last_error or "—",
            }
            for name, value in values.items():
                self.meta_labels[name].setText(value)
        status = pipeline.status if pipeline is not None else None
        connected = self.session.client is not None and pipeline is not None
        self.start_button.setEnabled(connected and status in ("draft", "stopped", "failed"))
        self.stop_button.setEnabled(connected and status in ("running", "deploying"))
        self.force_button.setEnabled(connected and status in ("running", "deploying", "stopping"))
        self.archive_button.setEnabled(connected and status != "archived")

    # -- actions -----------------------------------------------------------------

    def start_selected(self) -> None:
        """Deploy and run the shown pipeline."""
        if self._shown is not None:
            pipeline_id = self._shown.id
            self.runner.start(self._act(self.session.pipelines.start(pipeline_id)))

    def stop_selected(self, *, force: bool) -> None:
        """Stop the shown pipeline (a running sync makes a graceful stop fail with 409)."""
        if self._shown is not None:
            pipeline_id = self._shown.id
            self.runner.start(self._act(self.session.pipelines.stop(pipeline_id, force=force)))

    def force_stop_selected(self) -> None:
        """Confirm, then force stop."""
        if self._shown is None:
            return
        self.confirm_box = force_stop_box(self, self._shown)
        self.confirm_box.ask(lambda: self.stop_selected(force=True))

    def archive_selected(self) -> None:
        """Confirm, naming the pipeline, then archive it."""
        if self._shown is None:
            return
        pipeline_id = self._shown.id
        self.confirm_box = archive_box(self, self._shown)
        self.confirm_box.ask(
            lambda: self.runner.start(self._act(self.session.pipelines.archive(pipeline_id)))
        )

    async def _act(self, action: object) -> None:
        try:
            pipeline = await action  # type: ignore[misc]
        except ApiError as error:
            if error.code == "SYNC_IN_PROGRESS":
                # The server speaks of ?force=true; say it in the console's own terms.
                raise dataclasses.replace(
                    error,
                    message="A sync is running, so the pipeline was not stopped. Stop again "
                    "once the sync finishes, or use Force stop… to abandon it now",
                ) from None
            raise
        assert isinstance(pipeline, Pipeline)
        self.model.update_row(pipeline)
        if self._shown is not None and self._shown.id == pipeline.id:
            self._shown = pipeline
            self._show_metadata(pipeline)
        self.panel.pipeline_updated(pipeline)
        self.pipeline_changed.emit(pipeline)
        self.refresh()

    def _after_apply(self, pipeline: Pipeline) -> None:
        self.model.update_row(pipeline)
        if self._shown is not None and self._shown.id == pipeline.id:
            self._shown = pipeline
            self._show_metadata(pipeline)
        self.refresh()

    def _after_create(self, pipeline: Pipeline) -> None:
        self._shown = pipeline
        self._show_metadata(pipeline)
        self.refresh()


def _last_sync(pipeline: Pipeline) -> str:
    if sync_running(pipeline):
        return f"running since {format_timestamp(pipeline.last_sync_started_at)}"
    if pipeline.last_sync_finished_at is None:
        return "never"
    return (
        f"{format_timestamp(pipeline.last_sync_finished_at)} "
        f"({format_relative(pipeline.last_sync_finished_at)})"
    )
