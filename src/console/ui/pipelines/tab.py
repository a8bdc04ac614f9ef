"""The Pipelines tab: list, lifecycle actions, metadata, and the definition editor."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QItemSelection, QItemSelectionModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
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
from console.ui.protection import gate_button
from console.ui.session import ConsoleSession
from console.ui.tasks import TaskRunner
from console.ui.widgets.confirm import confirm_destructive
from console.ui.widgets.elided_label import ElidedLabel
from console.ui.widgets.row_table import selected_row, setup_row_view
from console.ui.widgets.status_badge import StatusBadgeDelegate, badge_label_style

LIVE_POLL_MS = 1000


class PipelinesTab(QWidget):
    """Pipelines of the connected account.

    One pipeline is current (`current_id`): the editor, the metadata, the actions and the
    list's highlight are all derived from it. Filters only hide rows; choosing another row
    is a request to change it, which asks first about unapplied edits (one question at a
    time), and until it is granted the list keeps highlighting the current pipeline.
    """

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
        self._shown: Pipeline | None = None  # the current pipeline (None: none, or a new one)
        self._requested: Pipeline | None = None  # asked for while a question is open
        self._question_open = False
        self._syncing_list = False  # the list's highlight is being set from the current id
        self._first_load = True
        self.has_loaded = False  # the list has been fetched at least once

        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Filter by name or id")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setAccessibleName("Filter pipelines")
        self.search_edit.textChanged.connect(
            lambda text: self._change_filter(lambda: self.proxy.set_text(text))
        )
        self.status_combo = QComboBox()
        self.status_combo.setAccessibleName("Pipeline status")
        self.status_combo.addItem("All statuses", None)
        for status in PIPELINE_STATUSES:
            self.status_combo.addItem(status.capitalize(), status)
        self.status_combo.currentIndexChanged.connect(
            lambda _i: self._change_filter(
                lambda: self.proxy.set_status(self.status_combo.currentData())
            )
        )
        # Mnemonics are unique within the tab, its editor and the window's connection row.
        self.archived_box = QCheckBox("Sho&w archived")
        self.archived_box.toggled.connect(lambda _on: self.refresh())
        self.refresh_button = QPushButton("Re&fresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.new_button = QPushButton("&New pipeline")
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
        self.table.setAccessibleName("Pipelines")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        setup_row_view(self.table)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(30)
        self.table.setItemDelegateForColumn(STATUS_COLUMN, StatusBadgeDelegate(self.table))
        header = self.table.horizontalHeader()
        # The server's order (newest first) until the user clicks a header.
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        header.setStretchLastSection(False)
        # The name gets the stretch; the other columns are as wide as what they show
        # (fixed widths left the name ~45 px wide at 1024 px).
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
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
        self.name_label = ElidedLabel("—")  # a long name elides; the tooltip has it whole
        self.meta_labels: dict[str, QLabel] = {}
        meta = QFormLayout()
        meta.addRow("Name", self.name_label)
        meta.addRow("Status", self.status_badge)
        for name in ("Id", "Revision", "Created", "Updated", "Last sync", "Last error"):
            label = WrappedValue("—") if name == "Last error" else QLabel("—")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            # A last error quoting a long URL wraps or is clipped; it never widens the window.
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            self.meta_labels[name] = label
            meta.addRow(name, label)
        self.start_button = QPushButton("&Start")
        self.start_button.clicked.connect(self.start_selected)
        self.stop_button = QPushButton("S&top")
        self.stop_button.clicked.connect(lambda: self.stop_selected(force=False))
        self.force_button = QPushButton("Force sto&p…")
        self.force_button.clicked.connect(self.force_stop_selected)
        self.archive_button = QPushButton("Arc&hive…")
        self.archive_button.clicked.connect(self.archive_selected)
        actions = QHBoxLayout()
        for button in (self.start_button, self.stop_button, self.force_button, self.archive_button):
            actions.addWidget(button)
        actions.addStretch(1)
        meta_box = QGroupBox("Pipeline")
        self.meta_box = meta_box
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
        # A narrower (or wider) window changes the editor's width, not the list's: at
        # 1024 px the list keeps room for its names, and the editor still fits its buttons.
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([470, 790])  # the editor title and toolbar fit at 1280 px
        # Neither side can be dragged away (the editor's Apply would go with it).
        splitter.setChildrenCollapsible(False)
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self._poll = QTimer(self)
        self._poll.setInterval(LIVE_POLL_MS)
        self._poll.timeout.connect(self._poll_tick)
        self._show_metadata(None)
        self._sync_list_actions()
        # Writes refused (a locked production profile): the buttons stay, disabled, and say why.
        session.protection.writes_changed.connect(self._sync_list_actions)
        session.protection.writes_changed.connect(self._sync_actions)

    # -- loading -----------------------------------------------------------------

    def refresh(self) -> None:
        """Reload the list (a newer refresh supersedes a running one)."""
        if self.session.client is None:
            return
        self.runner.start(self._load(), name="pipelines.refresh")

    def connected(self) -> None:
        """A connection is ready: load the list and the editor's catalogue."""
        self._first_load = True
        self._sync_list_actions()
        self.refresh()
        self.runner.start(self._load_catalog(), name="pipelines.catalog")

    def clear(self) -> None:
        """Forget everything of the previous connection (its answers must not land here)."""
        for name in ("refresh", "open", "dry-run", "catalog"):
            self.runner.cancel(f"pipelines.{name}")
        self._poll.stop()
        self.model.set_rows([])
        self.has_loaded = False
        self._requested = None
        self._make_current(None)
        self.panel.clear()
        self.summary_label.setText("Not connected")
        self._sync_list_actions()

    def _sync_list_actions(self) -> None:
        """Refresh and New pipeline need a connection (as the Keys tab's actions do)."""
        connected = self.session.client is not None
        why = "" if connected else "Not connected: choose a connection first."
        self.refresh_button.setEnabled(connected)
        self.refresh_button.setToolTip(why)
        gate_button(self.session.protection, self.new_button, connected, why)

    async def _load(self) -> None:
        self.summary_label.setText("Loading pipelines…")
        try:
            pipelines = await self.session.pipelines.list_all(
                include_archived=self.archived_box.isChecked()
            )
        except Exception:
            # The banner says why (the runner shows the failure); cancelled, a newer load
            # or `clear` owns the footer.
            self.summary_label.setText("Could not load pipelines: see the message above.")
            raise
        self.model.set_rows(pipelines)
        self._update_summary()
        shown = self._shown
        if shown is not None:
            fresh = next((p for p in pipelines if p.id == shown.id), None)
            if fresh is not None:
                self._reselect(fresh)
        elif self._first_load and pipelines and not self.panel.is_dirty:
            self._reselect(pipelines[0])
        self._first_load = False
        self._show_current_in_list()  # the rows were replaced: highlight the current again
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

    # -- the current pipeline -------------------------------------------------------

    @property
    def current_id(self) -> int | None:
        """Id of the current pipeline (None: nothing, or a new pipeline, is open)."""
        return self._shown.id if self._shown is not None else None

    def selected_pipeline(self) -> Pipeline | None:
        """The pipeline of the highlighted row."""
        pipeline = selected_row(self.table)
        return pipeline if isinstance(pipeline, Pipeline) else None

    def select_pipeline(self, pipeline_id: int) -> bool:
        """Ask to open `pipeline_id` as the user would; False when the list does not show it."""
        pipeline = self._listed(pipeline_id)
        if pipeline is None:
            return False
        self._request(pipeline)
        return True

    def _listed(self, pipeline_id: int | None) -> Pipeline | None:
        """The pipeline of `pipeline_id` if its row is shown (not filtered out)."""
        row = self.model.row_of(pipeline_id) if pipeline_id is not None else None
        if row is None or not self.proxy.mapFromSource(self.model.index(row, 0)).isValid():
            return None
        pipeline = self.model.row_at(row)
        return pipeline if isinstance(pipeline, Pipeline) else None

    def _make_current(self, pipeline: Pipeline | None) -> None:
        self._shown = pipeline
        self._show_metadata(pipeline)
        self._show_current_in_list()

    def _show_current_in_list(self, *, scroll: bool = False) -> None:
        """Highlight the current pipeline's row, or nothing when it is not shown."""
        selection = self.table.selectionModel()
        self._syncing_list = True
        try:
            listed = self._listed(self.current_id)
            if listed is not None:
                row = self.model.row_of(listed.id)
                assert row is not None
                index = self.proxy.mapFromSource(self.model.index(row, 0))
                selected = self.selected_pipeline()
                if selected is None or selected.id != listed.id:
                    self.table.selectRow(index.row())
                    scroll = True
                if scroll:  # a live refresh every second must not pull the list back
                    self.table.scrollTo(index)
            else:
                selection.clearSelection()
                selection.setCurrentIndex(QModelIndex(), QItemSelectionModel.SelectionFlag.NoUpdate)
        finally:
            self._syncing_list = False
        self._sync_actions()

    def _change_filter(self, change: Callable[[], None]) -> None:
        # Rows appear and vanish; what is current does not change, so no question is asked.
        self._syncing_list = True
        try:
            change()
        finally:
            self._syncing_list = False
        self._show_current_in_list(scroll=True)

    def _reselect(self, pipeline: Pipeline) -> None:
        """Fresh data of a listed pipeline: open it if nothing is, else update the current."""
        if self.current_id != pipeline.id:
            self._open(pipeline)
            return
        self._shown = pipeline
        self._show_metadata(pipeline)
        self.panel.pipeline_updated(pipeline)
        self._show_current_in_list()

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        if self._syncing_list:
            return
        picked = self.selected_pipeline()
        if picked is None or picked.id == self.current_id:
            self._show_current_in_list()  # a deselection chooses nothing
            return
        self._request(picked)

    def _request(self, pipeline: Pipeline) -> None:
        """The user chose `pipeline`: open it, asking first about unapplied edits."""
        if pipeline.id == self.current_id:
            return
        if not (self.panel.is_dirty and (self._shown is not None or self.panel.is_new)):
            self._open(pipeline)
            return
        # The newest choice wins; the list keeps showing the current one until answered.
        self._requested = pipeline
        self._show_current_in_list()
        if not self._question_open:
            self._ask_before_switching()
        else:
            self.unsaved_box.set_opening(pipeline.name)  # the question names the newest

    def _ask_before_switching(self) -> None:
        name = self._shown.name if self._shown is not None else "The new pipeline"

        def proceed() -> None:
            target, self._requested = self._requested, None
            if target is not None:
                self._open(target)

        def answered(_result: int) -> None:
            self._question_open = False
            if self._requested is not None:  # cancelled (button, Escape or closed)
                self._requested = None
                self._show_current_in_list()

        self._question_open = True
        opening = self._requested.name if self._requested is not None else None
        self.unsaved_box = UnsavedEditsBox(self, name, opening)
        self.unsaved_box.finished.connect(answered)
        self.unsaved_box.ask(self.panel, proceed)

    def _open(self, pipeline: Pipeline) -> None:
        self._make_current(pipeline)
        task = self.runner.start(self.panel.load_pipeline(pipeline), name="pipelines.open")
        task.add_done_callback(lambda done: self._open_finished(done, pipeline))

    def _open_finished(self, task: asyncio.Task[Any], pipeline: Pipeline) -> None:
        if not shiboken6.isValid(self) or task.cancelled() or task.exception() is None:
            return
        if self.current_id == pipeline.id and self.panel.pipeline is not pipeline:
            # The load failed (the banner says why) and the editor kept what it showed:
            # the list, the metadata and the actions follow it back.
            self._make_current(self.panel.pipeline)

    def new_pipeline(self) -> None:
        """Start a new pipeline in the editor; unapplied edits are kept as their draft."""
        if not self.session.protection.permit("New pipeline"):
            return
        if self.panel.is_dirty and self._shown is not None:
            self.panel.save_draft()  # the draft keeps them; "New" never destroys edits
        self._make_current(None)
        self.panel.new_from_example()

    def apply_edits(self) -> bool:
        """Apply (or create) the edited definition (Ctrl+S); False when nothing is edited.

        Writes refused, it says why (and sends nothing) rather than doing nothing silently.
        """
        if self.panel.is_dirty and not self.session.protection.permit("Apply"):
            return True
        if not (self.panel.is_dirty and self.panel.apply_button.isEnabled()):
            return False
        self.panel.apply()
        return True

    def _show_metadata(self, pipeline: Pipeline | None) -> None:
        for label in self.meta_labels.values():
            label.setText("—")
        self.name_label.setText(pipeline.name if pipeline is not None else "—")
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
            self.meta_labels["Last error"].setToolTip(pipeline.last_error or "")
        self._sync_actions()

    def _sync_actions(self) -> None:
        """Lifecycle actions act on the current pipeline, and only while the list shows it."""
        pipeline = self._shown
        status = pipeline.status if pipeline is not None else None
        hidden = pipeline is not None and self._listed(pipeline.id) is None
        connected = self.session.client is not None and pipeline is not None and not hidden
        self.meta_box.setTitle("Pipeline (not in the list)" if hidden else "Pipeline")
        gate = self.session.protection
        gate_button(gate, self.start_button, connected and status in ("draft", "stopped", "failed"))
        gate_button(gate, self.stop_button, connected and status in ("running", "deploying"))
        gate_button(
            gate, self.force_button, connected and status in ("running", "deploying", "stopping")
        )
        gate_button(gate, self.archive_button, connected and status != "archived")

    # -- actions -----------------------------------------------------------------

    def start_selected(self) -> None:
        """Deploy and run the shown pipeline."""
        if self._shown is not None and self.session.protection.permit("Start"):
            pipeline_id = self._shown.id
            self.runner.start(self._act(self.session.pipelines.start(pipeline_id)))

    def stop_selected(self, *, force: bool) -> None:
        """Stop the shown pipeline (a running sync makes a graceful stop fail with 409)."""
        if self._shown is not None and self.session.protection.permit(
            "Force stop" if force else "Stop"
        ):
            pipeline_id = self._shown.id
            self.runner.start(self._act(self.session.pipelines.stop(pipeline_id, force=force)))

    def force_stop_selected(self) -> None:
        """Confirm (on production: type the pipeline's name), then force stop."""
        pipeline = self._shown
        if pipeline is None:
            return
        box = confirm_destructive(
            self.session.protection,
            lambda typed: force_stop_box(self, pipeline, typed),
            pipeline.name,
            lambda: self.stop_selected(force=True),
        )
        if box is not None:
            self.confirm_box = box

    def archive_selected(self) -> None:
        """Confirm, naming the pipeline (on production: type its name), then archive it."""
        pipeline = self._shown
        if pipeline is None:
            return
        box = confirm_destructive(
            self.session.protection,
            lambda typed: archive_box(self, pipeline, typed),
            pipeline.name,
            lambda: self.runner.start(self._act(self.session.pipelines.archive(pipeline.id))),
        )
        if box is not None:
            self.confirm_box = box

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
        self._make_current(pipeline)
        self.refresh()


class WrappedValue(QLabel):
    """A word-wrapped value that asks its layout for the lines it needs (up to a few).

    A splitter or form lays a widget out by its minimum height, which ignores
    height-for-width: a wrapped QLabel got one line and its second line was cut off.
    """

    MAX_LINES = 4  # beyond that the text is clipped; the tooltip and selection have it all

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Ask for the height of the wrapped text at the new width."""
        super().resizeEvent(event)
        self._fit()

    def setText(self, text: str) -> None:
        """Show `text`, wrapped within the current width."""
        super().setText(text)
        self._fit()

    def _fit(self) -> None:
        cap = self.fontMetrics().lineSpacing() * self.MAX_LINES
        wanted = min(self.heightForWidth(max(1, self.width())), cap)
        if wanted != self.minimumHeight():
            self.setMinimumHeight(wanted)


def _last_sync(pipeline: Pipeline) -> str:
    if sync_running(pipeline):
        return f"running since {format_timestamp(pipeline.last_sync_started_at)}"
    if pipeline.last_sync_finished_at is None:
        return "never"
    return (
        f"{format_timestamp(pipeline.last_sync_finished_at)} "
        f"({format_relative(pipeline.last_sync_finished_at)})"
    )
