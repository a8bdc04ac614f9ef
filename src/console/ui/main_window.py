"""The main window: connection picker, error banner, four tabs, status bar.

Only what the first paint shows is built before it: the connection row, the banner, the
tab bar with the API Keys tab, and the status bar. The other tabs (Pipelines with its
definition editor, Records, Ingest Logs) and the dialogs' modules are built in the event
loop's next turns after that paint, one step a turn; a tab chosen before then (or asked
for in code, `window.pipelines_tab`) is built at once.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from console.api.capabilities import (
    EVERYTHING,
    discover,
    discover_trying_key,
    key_reason,
    try_key,
    unavailable_text,
)
from console.api.errors import ApiError
from console.api.transport import ApiClient
from console.config.drafts import DraftStore
from console.config.paths import AppPaths
from console.config.profiles import ConnectionProfile, Settings, SettingsStore
from console.config.secrets import SecretStore, profile_account
from console.ui.actions import ActionRegistry, ConsoleAction
from console.ui.environment_band import EnvironmentBand, environment_icon, picker_text
from console.ui.keys.tab import KeysTab
from console.ui.protection import gate_button
from console.ui.sandbox_port import SandboxFactory, SandboxRunner
from console.ui.session import ConsoleSession
from console.ui.status_bar import ConsoleStatusBar
from console.ui.tasks import TaskRunner
from console.ui.trace.find_field import FindField, FindNotice
from console.ui.widgets.error_banner import ErrorBanner
from console.ui.widgets.not_offered import NotOfferedPage
from console.ui.window_actions import WindowActions

if TYPE_CHECKING:
    # Imported after the first paint (see the module's docstring).
    from console.ui.bulk.dialog import BulkIngestDialog
    from console.ui.bulk.resume_bar import BulkIngest
    from console.ui.logs.tab import IngestLogsTab
    from console.ui.palette import CommandPalette
    from console.ui.pipelines.tab import PipelinesTab
    from console.ui.profiles_dialog import ProfilesDialog
    from console.ui.records.tab import RecordsTab
    from console.ui.shortcuts_sheet import ShortcutsSheet
    from console.ui.trace.finder import TraceFinder

log = logging.getLogger(__name__)
T = TypeVar("T")

SANDBOX_PROFILE = "Sandbox"
COMMAND_LINE_PROFILE = "Command line"
COMMAND_LINE_ENVIRONMENT = "production"  # a bare --url is read-only until unlocked
BULK_TOOLTIP = "Upload an NDJSON, JSON or CSV file to a feed (resumable)"
TAB_TITLES = ("API Keys", "Pipelines", "Records", "Ingest Logs")
KEYS_PATH = "/api/public/v1/keys"
PIPELINES_INDEX = 1
RECORDS_INDEX = 2
INGEST_LOGS_INDEX = 3
# The part of the contract each tab shows; a server without it gets a "not offered" page.
TAB_PARTS = {
    0: "keys",
    PIPELINES_INDEX: "pipelines",
    RECORDS_INDEX: "records",
    INGEST_LOGS_INDEX: "logs",
}
BULK_TOOLTIP = "Upload an NDJSON, JSON or CSV file to a feed (resumable)"
# Imported after the first paint, before the user could open what needs them: the
# dialogs the keys tab, the profile manager and the Pipelines tab open.
DEFERRED_MODULES = (
    "console.ui.pipelines.tab",
    "console.ui.profiles_dialog",
    "console.ui.keys.dialogs",
    "console.ui.trace.finder",
)


def freeze_long_lived_objects() -> None:
    """Leave what start-up built out of every later full garbage collection.

    The modules, classes and widgets built so far live as long as the window. A full
    collection walks every tracked object, so without this each one (tens of ms here) is
    a stall of the event loop while scrolling a large table (bench/records_ui_bench.py).
    """
    gc.freeze()


class MainWindow(QMainWindow):
    """Integration Console's one window."""

    connection_ready = Signal(object)  # ConnectionProfile, after the server answered
    connection_failed = Signal(str, object)  # profile name, the error; the previous stays
    first_painted = Signal()
    tabs_built = Signal()  # every tab built and every deferred module imported

    def __init__(
        self,
        secrets: SecretStore,
        settings_store: SettingsStore,
        sandbox_factory: SandboxFactory | None = None,
        drafts: DraftStore | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Integration Console")
        self.secrets = secrets
        self.settings_store = settings_store
        self.settings: Settings = settings_store.load()
        self.runner = TaskRunner(self)
        self.session = ConsoleSession(self)
        # Every action of the app: the palette, the F1 sheet and the shortcuts read it.
        self.action_registry = ActionRegistry()
        self.sandbox_factory = sandbox_factory
        self.sandboxes: dict[str, SandboxRunner] = {}
        # One worker: a stop queued at shutdown runs after any start still under way.
        self._sandbox_worker = ThreadPoolExecutor(1, thread_name_prefix="sandbox")
        self._painted = False
        self._close_confirmed = False
        self._connecting: str | None = None  # the profile a running connect is trying
        self._connect_task: asyncio.Task[None] | None = None  # the newest connect started
        self._connected_text = "Not connected"
        self._drafts = drafts
        self._pipelines_tab: PipelinesTab | None = None
        self._records_tab: RecordsTab | None = None
        self._logs_tab: IngestLogsTab | None = None
        # Built after the first paint, in this order, one step per loop turn.
        self._unbuilt_tabs: dict[int, Callable[[], QWidget]] = {
            PIPELINES_INDEX: self._build_pipelines_tab,
            RECORDS_INDEX: self._build_records_tab,
            INGEST_LOGS_INDEX: self._build_ingest_logs_tab,
        }
        self._deferred_modules = list(DEFERRED_MODULES)

        self.profile_combo = QComboBox()
        # Sized by a few characters, not by the longest profile name (which would widen
        # the window); the full name is the tooltip.
        self.profile_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.profile_combo.setMinimumContentsLength(24)
        self.profile_combo.setPlaceholderText("Not connected")
        # A combo's accessible name is its value unless set (its buddy is only a relation).
        self.profile_combo.setAccessibleName("Connection")
        self.profile_combo.activated.connect(self._profile_chosen)
        self.manage_button = QPushButton("Connect&ions…")
        self.manage_button.clicked.connect(self.open_profiles_dialog)
        self.bulk_button = QPushButton("&Bulk ingest…")
        self.bulk_button.setToolTip(BULK_TOOLTIP)
        self.bulk_button.setEnabled(False)  # until a connection is ready
        self.bulk_button.clicked.connect(self.open_bulk_ingest)
        self._bulk: BulkIngest | None = None
        picker_label = QLabel("&Connection:")
        picker_label.setBuddy(self.profile_combo)
        top = QHBoxLayout()
        top.addWidget(picker_label)
        top.addWidget(self.profile_combo)
        top.addWidget(self.manage_button)
        top.addWidget(self.bulk_button)
        top.addStretch(1)
        # Find by ID: paste an ID (or type it and press Enter); Ctrl+K comes here.
        self.find_field = FindField()
        self.find_field.find_requested.connect(self.find_by_id)
        find_label = QLabel("Find by ID:")
        find_label.setBuddy(self.find_field)
        top.addWidget(find_label)
        top.addWidget(self.find_field)
        self.find_notice = FindNotice()
        self._finder: TraceFinder | None = None  # built at the first find

        self.banner = ErrorBanner()
        # The connected profile's environment; production: lock state and Unlock writes.
        self.environment_band = EnvironmentBand(self.session.protection)
        self.keys_tab = KeysTab(self.session, self.runner, secrets)
        self.keys_tab.register_rotation_actions(self.action_registry)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.setAccessibleName("Console tabs")
        self.tabs.addTab(self.keys_tab, TAB_TITLES[0])
        for index in self._unbuilt_tabs:
            # Never shown: the real page replaces it before its tab can be current.
            self.tabs.addTab(QWidget(), TAB_TITLES[index])
        self.tabs.currentChanged.connect(self._build_tab)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(10, 8, 10, 4)
        layout.addLayout(top)
        layout.addWidget(self.environment_band)
        layout.addWidget(self.find_notice)
        layout.addWidget(self.banner)
        self._central_layout = layout  # the interrupted-uploads bar goes under the banner
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.status = ConsoleStatusBar(self)
        self.setStatusBar(self.status)

        self.runner.failed.connect(self.show_error)
        self.session.connected.connect(lambda _profile: self._sync_offered_actions())
        self.session.disconnected.connect(self._sync_offered_actions)
        self.session.protection.writes_changed.connect(self._sync_offered_actions)
        # A write tried while refused (a shortcut, a menu, code): the status bar says why.
        self.session.protection.refused.connect(lambda text: self.status.showMessage(text, 10000))
        self.connection_ready.connect(lambda _profile: self._offer_interrupted_uploads())
        # Tabs whose part the server does not offer show a page saying so instead.
        self._not_offered_pages: dict[int, NotOfferedPage] = {}
        self._aside_pages: dict[int, QWidget] = {}  # their own pages, meanwhile
        self.session.capabilities_changed.connect(lambda _offered: self._show_offered_tabs())
        self.session.capabilities_changed.connect(lambda _offered: self._sync_offered_actions())
        self.session.request_finished.connect(self.status.request_finished)
        self.session.retry_waiting.connect(self.status.retry_waiting)
        self.session.connected.connect(lambda _profile: self.keys_tab.clear())
        self.session.disconnected.connect(self.keys_tab.clear)
        self.keys_tab.expiring_changed.connect(self.status.set_expiring_keys)
        self.status.expiring_clicked.connect(self._show_expiring_keys)
        self.session.own_key_rotated.connect(
            lambda last4: self.status.showMessage(
                f"This console now uses its rotated key (…{last4}).", 8000
            )
        )
        self.banner.find_requested.connect(self.find_by_id)
        self.tabs.installEventFilter(self)
        self._fill_profile_combo()
        self._add_shortcuts()

    # -- keyboard ----------------------------------------------------------------

    def _add_shortcuts(self) -> None:
        """Register every action, then bind the window-wide keys from the registry: they
        work whichever widget has the focus (console.ui.window_actions)."""
        self.window_actions = WindowActions(self)
        self.window_actions.register_all()
        self.window_actions.bind_shortcuts()
        self.shortcuts: list[QShortcut] = self.window_actions.shortcuts

    def all_actions(self) -> list[ConsoleAction]:
        """The registry's actions and one "Connect to …" per saved profile."""
        return [*self.action_registry, *self.window_actions.profile_actions()]

    def open_palette(self, only: str | None = None) -> CommandPalette:
        """Open the command palette (`only`: just the actions whose id starts so)."""
        from console.ui.actions import refusal_of
        from console.ui.palette import CommandPalette

        palette = CommandPalette(
            self.all_actions,
            lambda action: refusal_of(action, self.session.protection),
            self.window_actions.trigger,
            self,
            only=only,
        )
        palette.finished.connect(palette.deleteLater)
        palette.place_over(self)
        palette.open()
        palette.query_edit.setFocus(Qt.FocusReason.PopupFocusReason)
        self.command_palette = palette
        return palette

    def open_shortcuts_sheet(self) -> ShortcutsSheet:
        """Open the keyboard shortcuts sheet (F1), written from the registry."""
        from console.ui.shortcuts_sheet import ShortcutsSheet

        sheet = ShortcutsSheet(self.action_registry, self)
        sheet.finished.connect(sheet.deleteLater)
        sheet.open()
        self.shortcuts_sheet = sheet
        return sheet

    def current_refresh_button(self) -> QPushButton:
        """The Refresh button of the tab shown (F5 presses it)."""
        page = self.tabs.currentWidget()
        for tab in (self.keys_tab, self._pipelines_tab, self._records_tab, self._logs_tab):
            if tab is not None and page is tab:
                button: QPushButton = tab.refresh_button
                return button
        return self.keys_tab.refresh_button

    def _show_expiring_keys(self) -> None:
        self.tabs.setCurrentWidget(self.keys_tab)
        self.keys_tab.show_expiring()

    def _step_tab(self, step: int) -> None:
        count = self.tabs.count()
        self.tabs.setCurrentIndex((self.tabs.currentIndex() + step) % count)

    def focus_filter(self) -> bool:
        """Put the cursor in the current tab's filter (Ctrl+F); False when it has none."""
        page = self.tabs.currentWidget()
        if page is self.keys_tab:
            search_edit = self.keys_tab.search_edit
        elif self._pipelines_tab is not None and page is self._pipelines_tab:
            search_edit = self._pipelines_tab.search_edit
        elif self._records_tab is not None and page is self._records_tab:
            search_edit = self._records_tab.filter_bar.text_edit
        elif self._logs_tab is not None and page is self._logs_tab:
            search_edit = self._logs_tab.filter_bar.text_edit
        else:
            return False
        search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        search_edit.selectAll()
        return True

    def focus_find(self) -> bool:
        """Ctrl+K: put the cursor in the Find by ID field, its text selected."""
        self.find_field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.find_field.selectAll()
        return True

    # -- find by ID ----------------------------------------------------------------

    @property
    def finder(self) -> TraceFinder:
        """Find by ID's lookups and trace windows (built at the first use)."""
        if self._finder is None:
            from console.ui.trace.finder import TraceFinder

            finder = TraceFinder(self.session, self.runner, self)
            finder.notice.connect(self.find_notice.say)
            finder.open_record_requested.connect(self.open_record)
            self._finder = finder
        return self._finder

    def find_by_id(self, text: str) -> None:
        """Look up a request, correlation or idempotency ID, GUID or system id."""
        if not self.session.capabilities.allows("logs"):
            # From the banner's ID, say: the lookup reads the logs, so it would only fail.
            self.status.showMessage(self.find_field.toolTip(), 8000)
            return
        self.finder.find(text)

    def open_record(self, feed_id: str, guid: str) -> None:
        """Show record `guid` of `feed_id` in the Records tab (from a trace)."""
        if not self.session.capabilities.allows("records"):
            self.status.showMessage(unavailable_text(self.session.capabilities, "records"), 8000)
            return
        tab = self.records_tab
        self.tabs.setCurrentWidget(tab)
        tab.open_record(feed_id, guid)
        self.activateWindow()
        self.raise_()

    def apply_definition(self) -> bool:
        """Ctrl+S: apply the edited definition shown on the Pipelines tab, else nothing."""
        if self._pipelines_tab is None or self.tabs.currentWidget() is not self._pipelines_tab:
            return False
        return self._pipelines_tab.apply_edits()

    # -- tabs built after the first paint ------------------------------------------

    @property
    def pipelines_tab(self) -> PipelinesTab:
        """The Pipelines tab, built now if the turns after the first paint have not yet."""
        if self._pipelines_tab is None:
            self._build_tab(PIPELINES_INDEX)
        assert self._pipelines_tab is not None
        return self._pipelines_tab

    @property
    def records_tab(self) -> RecordsTab:
        """The Records tab, built now if the turns after the first paint have not yet."""
        if self._records_tab is None:
            self._build_tab(RECORDS_INDEX)
        assert self._records_tab is not None
        return self._records_tab

    @property
    def logs_tab(self) -> IngestLogsTab:
        """The Ingest Logs tab, built now if the turns after the first paint have not yet."""
        if self._logs_tab is None:
            self._build_tab(INGEST_LOGS_INDEX)
        assert self._logs_tab is not None
        return self._logs_tab

    @property
    def all_tabs_built(self) -> bool:
        """Whether every tab is built and every deferred module imported."""
        return not self._unbuilt_tabs and not self._deferred_modules

    def _build_pipelines_tab(self) -> QWidget:
        from console.ui.pipelines.tab import PipelinesTab

        drafts = self._drafts or DraftStore(AppPaths.from_environment().drafts_dir)
        tab = PipelinesTab(self.session, self.runner, drafts)
        self.session.connected.connect(lambda _profile: tab.clear())
        self.session.disconnected.connect(tab.clear)
        self._pipelines_tab = tab
        return tab

    def _build_records_tab(self) -> QWidget:
        from console.ui.records.tab import RecordsTab

        tab = RecordsTab(self.session, self.runner)
        tab.find_requested.connect(self.find_by_id)
        self.session.connected.connect(lambda _profile: tab.clear())
        self.session.disconnected.connect(tab.clear)
        if self.session.client is not None and self.session.capabilities.allows("records"):
            tab.connected()  # it loads when first shown
        self._records_tab = tab
        return tab

    def _build_ingest_logs_tab(self) -> QWidget:
        from console.ui.logs.tab import IngestLogsTab

        # Building it imports no numpy: the buffer's modules load when it first loads.
        tab = IngestLogsTab(self.session, self.runner)
        tab.find_requested.connect(self.find_by_id)
        self.session.connected.connect(lambda _profile: tab.clear())
        self.session.disconnected.connect(tab.clear)
        if self.session.client is not None and self.session.capabilities.allows("logs"):
            tab.connected()  # it loads when first shown
        self._logs_tab = tab
        return tab

    def _build_tab(self, index: int) -> None:
        """Put the real page of tab `index` in place of its placeholder, if not yet.

        Also runs when a tab becomes current, so a tab chosen before its turn came is
        built at once, before it paints.
        """
        build = self._unbuilt_tabs.pop(index, None)
        if build is None:
            return
        page = build()
        if index in self._aside_pages:  # the tab says "not offered": the page waits aside
            self._aside_pages.pop(index).deleteLater()
            self._aside_pages[index] = page
            return
        current = self.tabs.currentIndex()
        placeholder = self.tabs.widget(index)
        # The swap is invisible (no paint runs in between): listeners of the tab
        # widget hear of no change but the one the user made.
        blocked = self.tabs.blockSignals(True)
        try:
            self.tabs.removeTab(index)
            self.tabs.insertTab(index, page, TAB_TITLES[index])
            self.tabs.setCurrentIndex(current)
        finally:
            self.tabs.blockSignals(blocked)
        if placeholder is not None:
            placeholder.deleteLater()

    def _build_next_deferred(self) -> None:
        """One step of what the first paint did not need; then the next, a turn later."""
        if self._unbuilt_tabs:
            self._build_tab(next(iter(self._unbuilt_tabs)))
        elif self._deferred_modules:
            importlib.import_module(self._deferred_modules.pop(0))
        if self.all_tabs_built:
            freeze_long_lived_objects()
            self.tabs_built.emit()
        else:
            QTimer.singleShot(0, self, self._build_next_deferred)

    # -- what the server offers --------------------------------------------------

    def _show_offered_tabs(self) -> None:
        """Each tab shows its page if the server offers its part and the key may use it,
        else a page saying which is missing."""
        capabilities = self.session.capabilities
        current = self.tabs.currentIndex()
        # Swapped without a paint in between, as in `_build_tab`.
        blocked = self.tabs.blockSignals(True)
        try:
            for index, part in TAB_PARTS.items():
                offered = capabilities.allows(part)
                if offered and index in self._aside_pages:
                    page: QWidget = self._aside_pages.pop(index)
                elif not offered and index not in self._aside_pages:
                    own = self.tabs.widget(index)
                    assert own is not None  # every index of TAB_PARTS has a tab
                    self._aside_pages[index] = own
                    page = self._not_offered_page(index)
                else:
                    if not offered:
                        self._not_offered_page(index)  # its text says why, as of now
                    continue
                self.tabs.removeTab(index)
                self.tabs.insertTab(index, page, TAB_TITLES[index])
            self.tabs.setCurrentIndex(current)
        finally:
            self.tabs.blockSignals(blocked)

    def _not_offered_page(self, index: int) -> NotOfferedPage:
        page = self._not_offered_pages.get(index)
        if page is None:
            page = self._not_offered_pages[index] = NotOfferedPage(TAB_PARTS[index])
        page.show_capabilities(self.session.capabilities)
        return page

    def _sync_offered_actions(self) -> None:
        """Actions needing a part the server lacks, or the key may not use, are disabled,
        and say why."""
        capabilities = self.session.capabilities
        connected = self.session.client is not None
        ingest = capabilities.allows("ingest")
        # Bulk ingest is a write: refused on a locked production profile, with its reason.
        gate_button(
            self.session.protection,
            self.bulk_button,
            connected and ingest,
            BULK_TOOLTIP if ingest else unavailable_text(capabilities, "ingest"),
        )
        logs = capabilities.allows("logs")
        self.find_field.setEnabled(logs)
        why = (
            unavailable_text(capabilities, "logs"),
            "Find by ID looks IDs up in them.",
            key_reason(capabilities, "logs"),  # which key may, when this one may not
        )
        self.find_field.setToolTip("" if logs else " ".join(text for text in why if text))

    def _offer_interrupted_uploads(self) -> None:
        if self.session.capabilities.allows("ingest"):
            self.bulk.refresh_offers()

    # -- bulk ingest -------------------------------------------------------------

    @property
    def bulk(self) -> BulkIngest:
        """Bulk ingest: its dialog and the bar offering interrupted uploads (built when
        first needed, after the first paint)."""
        if self._bulk is None:
            from console.ui.bulk.resume_bar import BulkIngest, InterruptedUploadsBar

            bar = InterruptedUploadsBar()
            self._central_layout.insertWidget(self._central_layout.indexOf(self.banner) + 1, bar)
            self._bulk = BulkIngest(self.session, self.runner, self, bar)
        return self._bulk

    def open_bulk_ingest(self) -> BulkIngestDialog | None:
        """Open the Bulk ingest dialog for the connected server (None: not connected, or
        writes refused)."""
        if self.session.client is None or not self.session.protection.permit("Bulk ingest"):
            return None
        dialog: BulkIngestDialog = self.bulk.open_dialog()
        return dialog

    # -- painting ----------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Notice the first paint (start-up benchmark and screenshots wait for it)."""
        if not self._painted and event.type() == QEvent.Type.Paint:
            self._painted = True
            self.first_painted.emit()
            # After this paint has reached the screen, not inside it.
            QTimer.singleShot(0, self, self._build_next_deferred)
        return super().eventFilter(watched, event)

    # -- errors ------------------------------------------------------------------

    def show_error(self, error: BaseException) -> None:
        """Show a failure in the banner (and the connection state for network errors)."""
        self.banner.show_error(error)
        if isinstance(error, ApiError) and error.is_network_error:
            # The banner says why; the status bar says only the state (one message, once).
            self.status.set_connection_state("offline", "Offline: see the message above")

    # -- profiles ----------------------------------------------------------------

    def _fill_profile_combo(self) -> None:
        """List the profiles; the one shown is the connected one, never just the chosen one."""
        connected = self.session.profile
        self.profile_combo.blockSignals(True)
        self.profile_combo.clear()
        shown = list(self.settings.profiles)
        if connected is not None and self.settings.profile(connected.name) is None:
            # --url, or a profile renamed or deleted meanwhile: still what the tabs show.
            shown.append(connected)
        for profile in shown:
            # The environment's marker (and, on production, the word) shows closed too.
            self.profile_combo.addItem(
                environment_icon(profile.environment),
                picker_text(profile.name, profile.environment),
                profile.name,
            )
        index = self.profile_combo.findData(connected.name) if connected is not None else -1
        self.profile_combo.setCurrentIndex(index)
        self.profile_combo.setToolTip(
            f"Connected to {connected.name} ({connected.environment})"
            if connected is not None
            else "Not connected"
        )
        self.profile_combo.blockSignals(False)

    def _profile_chosen(self, index: int) -> None:
        name = self.profile_combo.itemData(index)
        profile = self.settings.profile(str(name))
        # Until the new server answers, the tabs still show the connected profile's data.
        self._fill_profile_combo()
        if profile is None:
            return
        connected = self.session.profile
        if connected is not None and profile.name == connected.name:
            # Choosing the connection in use again means "stay here": the newest choice
            # wins, so an attempt still under way is given up.
            self.cancel_connect()
        else:
            self.connect_profile(profile)

    def cancel_connect(self) -> bool:
        """Give up the connect attempt under way (Esc, or re-choosing); False if none."""
        if self._connecting is None:
            return False
        self._connecting = None
        self.runner.cancel("connect")  # its answer, if one still comes, is never applied
        if self.session.profile is not None:
            self.status.set_connection_state("connected", self._connected_text)
        else:
            self.status.set_disconnected()
        self._fill_profile_combo()
        return True

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Esc, when no widget wanted it, gives up a connect attempt under way."""
        if event.key() == Qt.Key.Key_Escape and self.cancel_connect():
            event.accept()
            return
        super().keyPressEvent(event)

    def open_profiles_dialog(self) -> ProfilesDialog:
        """Open the connection-profile manager."""
        from console.ui.profiles_dialog import ProfilesDialog

        dialog = ProfilesDialog(
            self.settings,
            self.secrets,
            self,
            connected=lambda: self.session.profile.name if self.session.profile else None,
        )
        dialog.deleted.connect(self._profile_deleted)
        dialog.edited.connect(self._profile_edited)
        dialog.saved.connect(self._profiles_saved)
        dialog.connect_requested.connect(self._connect_named)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        self.profiles_dialog = dialog
        return dialog

    def _profiles_saved(self) -> None:
        self.settings_store.save(self.settings)
        self._fill_profile_combo()

    def _profile_edited(self, old_name: str, new_name: str, _new_key: bool) -> None:
        """The connected profile was renamed or changed: connect again with what was saved.

        Until that answers, the picker keeps naming the connection in use (under its old
        name if it was renamed); if it fails, that connection stays, as for any connect.
        """
        profile = self.settings.profile(new_name)
        connected = self.session.profile
        if profile is not None and connected is not None and connected.name == old_name:
            self.connect_profile(profile)

    def _profile_deleted(self, name: str) -> None:
        """The profile manager deleted `name` (after asking): disconnect if it is in use."""
        if self._connecting == name:
            self.cancel_connect()
        if self.session.profile is not None and self.session.profile.name == name:
            self.drop_connection()
        self._fill_profile_combo()

    def drop_connection(self) -> None:
        """Drop the connection: the tabs clear and the picker names no profile."""
        self.runner.cancel("connect")
        self._connecting = None
        if self._pipelines_tab is not None:  # edits of that connection stay in its drafts
            self._pipelines_tab.panel.save_draft()
        self.session.disconnect_profile()
        self.settings.active_profile = None
        self._connected_text = "Not connected"
        self.status.set_disconnected()
        self.banner.dismiss()
        self._fill_profile_combo()

    def _connect_named(self, name: str) -> None:
        profile = self.settings.profile(name)
        if profile is not None:
            self.connect_profile(profile)

    def use_sandbox(self, data_dir: Path) -> None:
        """Add (or update) the Sandbox profile for `data_dir` and connect to it."""
        profile = ConnectionProfile(
            SANDBOX_PROFILE, base_url="", sandbox_data_dir=str(data_dir.resolve())
        )
        existing = self.settings.profile(SANDBOX_PROFILE)
        self.settings.upsert(profile, old_name=SANDBOX_PROFILE if existing else None)
        self.settings_store.save(self.settings)
        self._fill_profile_combo()
        self.connect_profile(profile)

    def connect_profile(self, profile: ConnectionProfile) -> None:
        """Connect to `profile` in the background; errors go to the banner."""
        self._connecting = profile.name
        self._connect_task = self.runner.start(self._connect(profile), name="connect")

    def connect_url(
        self, base_url: str, api_key: str, environment: str = COMMAND_LINE_ENVIRONMENT
    ) -> None:
        """Connect to a server given on the command line (the key is never saved).

        Its environment is production unless told otherwise (`--environment`): nothing
        says what a bare URL points at, so it opens read-only, fail-safe.
        """
        profile = ConnectionProfile(
            COMMAND_LINE_PROFILE, base_url=base_url, environment=environment
        )
        self._connecting = profile.name
        self._connect_task = self.runner.start(
            self._connect(profile, api_key=api_key), name="connect"
        )

    async def _connect(self, profile: ConnectionProfile, api_key: str | None = None) -> None:
        """Connect to `profile`; the picker names it once its data is what the tabs show.

        With a connection to keep, the new server must answer one request before it
        replaces that connection, so a failure leaves the previous one and its tabs as they
        were. With nothing to keep (start-up), nothing is tried first: the tabs' first
        requests tell whether the server takes the key.
        """
        self.banner.dismiss()
        self.status.set_connection_state(
            "connecting", f"Connecting to {profile.name}… (Esc to cancel)"
        )
        client: ApiClient | None = None
        try:
            renew: Callable[[], Awaitable[str]] | None = None
            if profile.is_sandbox:
                sandbox = self._sandbox_for(profile)
                self.status.set_connection_state(
                    "connecting", "Starting the sandbox server… (Esc to cancel)"
                )
                endpoint = await self._in_sandbox_worker(sandbox.ensure_started)
                base_url, key = endpoint.base_url, endpoint.api_key
                persist: Callable[[str], object] = sandbox.keep_key
                # The console's own sandbox key may have been revoked or expired: the
                # client mints another at the first 401 (no probe request for that).
                renew = partial(self._in_sandbox_worker, sandbox.mint_new_key)
            else:
                base_url = profile.base_url
                account = profile_account(profile.name)
                stored = api_key or self.secrets.get(account)
                if stored is None:
                    self._restore_connection_state(f"{profile.name}: no key")
                    self.open_profiles_dialog().ask_for_key(profile.name)
                    return
                key = stored
                # A key given on the command line is never saved, not even after rotation.
                persist = (lambda _secret: None) if api_key else partial(self.secrets.set, account)
            client = self.session.new_client(profile, base_url, key, renew_key=renew)
            # The embedded sandbox offers every part; another server says what it offers
            # (its /openapi.json, else one cheap probe per part, concurrently), and the
            # key's kind what of it the key may use.
            # Before dropping what works, the key must work on a part offered (a server
            # offering only ingest routes has no read to try it on).
            if profile.is_sandbox:
                capabilities = EVERYTHING
                if self.session.profile is not None:
                    await try_key(client, capabilities)
            elif self.session.profile is not None:
                capabilities = await discover_trying_key(client)
            else:
                capabilities = await discover(client)
            if not capabilities.parts:
                raise ValueError(
                    f"{base_url} answers no route of the platform API: check the base URL "
                    "(the server's root, not a web page)."
                )
        except asyncio.CancelledError:
            # A newer choice (another connect, `cancel_connect`, deleting this profile)
            # took over: it owns the status.
            if client is not None:
                self.session.close_later(client)
            raise
        except Exception as error:
            if client is not None:
                self.session.close_later(client)
            self._connect_failed(profile, error)
            return
        finally:
            # Only the newest attempt speaks for `_connecting` (an older one, cancelled,
            # may unwind after a newer one to the same profile has started).
            if self._connect_task is asyncio.current_task():
                self._connecting = None

        # Edits of the previous connection stay in its drafts before the tab is cleared.
        if self._pipelines_tab is not None:
            self._pipelines_tab.panel.save_draft()
        self.session.connect_profile(profile, client, persist_key=persist)
        self.session.set_capabilities(capabilities)
        self.status.clear()
        if profile.name != COMMAND_LINE_PROFILE:
            self.settings.active_profile = profile.name
        self._fill_profile_combo()  # the tabs now belong to this profile
        keys_loading = self.keys_tab.refresh() if capabilities.allows("keys") else None
        if capabilities.allows("pipelines"):
            self.pipelines_tab.connected()
        if self._records_tab is not None and capabilities.allows("records"):
            self._records_tab.connected()  # else it loads once built and shown
        if self._logs_tab is not None and capabilities.allows("logs"):
            self._logs_tab.connected()  # likewise
        if keys_loading is not None:
            await asyncio.wait({keys_loading})
            if not keys_loading.cancelled() and keys_loading.exception() is not None:
                # The keys tab has put the error in the banner: the status bar names only
                # the state, so the reason is said once.
                self.status.set_connection_state(
                    "offline", f"{profile.name}: not connected, see the message above"
                )
                return
        if not profile.base_url and profile.is_sandbox:
            where = f"Sandbox at {base_url}"
        else:
            where = f"{profile.name} ({base_url})"
        self._connected_text = f"Connected to {where}"
        self.status.set_connection_state("connected", self._connected_text)
        self.connection_ready.emit(profile)

    def _restore_connection_state(self, failure: str) -> None:
        """After a failed attempt the status speaks of the connection still in use."""
        if self.session.profile is not None:
            self.status.set_connection_state("connected", self._connected_text)
        else:
            self.status.set_connection_state("offline", failure)
        self._fill_profile_combo()

    def _connect_failed(self, profile: ConnectionProfile, error: Exception) -> None:
        log.warning("could not connect to %s: %s", profile.name, error)
        kept = self.session.profile
        context = f"Could not connect to “{profile.name}”"
        if kept is not None:
            context += f" (still connected to “{kept.name}”)"
        message = error.message if isinstance(error, ApiError) else str(error)
        self._restore_connection_state(f"{profile.name}: {message}")
        self.banner.show_error(error, context=context)
        self.connection_failed.emit(profile.name, error)

    def _sandbox_for(self, profile: ConnectionProfile) -> SandboxRunner:
        assert profile.sandbox_data_dir is not None
        sandbox = self.sandboxes.get(profile.sandbox_data_dir)
        if sandbox is None:
            if self.sandbox_factory is None:
                raise RuntimeError("This window was built without the embedded sandbox.")
            sandbox = self.sandbox_factory(Path(profile.sandbox_data_dir))
            self.sandboxes[profile.sandbox_data_dir] = sandbox
        return sandbox

    async def _in_sandbox_worker(self, work: Callable[[], T]) -> T:
        return await asyncio.wrap_future(self._sandbox_worker.submit(work))

    # -- closing -----------------------------------------------------------------

    def close_keeping_drafts(self) -> None:
        """Close without asking: unapplied edits stay in their drafts (SIGTERM, tests)."""
        if self._pipelines_tab is not None:
            self._pipelines_tab.panel.save_draft()
        self._close_confirmed = True
        self.close()

    def _ask_before_closing(self) -> None:
        from console.ui.pipelines.dialogs import UnsavedEditsBox

        panel = self.pipelines_tab.panel
        name = panel.pipeline.name if panel.pipeline is not None else "The new pipeline"

        def close_now() -> None:
            self._close_confirmed = True
            QTimer.singleShot(0, self.close)

        self.unsaved_box = UnsavedEditsBox(self, name)
        self.unsaved_box.ask(panel, close_now)  # Cancel: stay open

    async def shutdown(self) -> None:
        """Cancel work, close connections and stop sandbox children."""
        if self._logs_tab is not None:
            await self._logs_tab.shutdown()  # its live tail's stream is its own task
        await self.keys_tab.rotation_panel.shutdown()  # so is the rotation panel's
        await self.runner.shutdown()
        await self.session.aclose()
        for sandbox in self.sandboxes.values():
            # Returns at once: the child stops by itself when its stdin closes.
            sandbox.stop()
        self.sandboxes.clear()
        self._sandbox_worker.shutdown(wait=False)

    def _close_unless_shown(self, dialog: QWidget) -> None:
        """Quit once the question about `dialog` left it closed (Cancel keeps it open)."""
        if not dialog.isVisible():
            self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Ask about unapplied definition edits, then persist the active profile."""
        panel = self._pipelines_tab.panel if self._pipelines_tab is not None else None
        if panel is not None and panel.is_dirty and not self._close_confirmed:
            event.ignore()
            self._ask_before_closing()
            return
        bulk = self._bulk.dialog if self._bulk is not None else None
        # The bulk dialog's own question, as closing it asks: a running upload (keep
        # uploading, or pause, kept for resuming) or a summary's unsaved rejected items
        # (Save…, Discard, Cancel). Quitting follows once the answer has closed the dialog
        # (pause and close, discard); Save… closes the summary only, the window stays.
        if bulk is not None and not self._close_confirmed:
            box = bulk.ask_before_closing()
            if box is not None:
                event.ignore()
                bulk.raise_()
                box.finished.connect(
                    lambda _result: QTimer.singleShot(0, partial(self._close_unless_shown, bulk))
                )
                return
        if panel is not None:
            panel.shutdown()
        try:
            self.settings_store.save(self.settings)
        except OSError:
            log.exception("could not save settings")
        super().closeEvent(event)
