"""The API Keys tab: list, filter, add, rotate and revoke keys."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPoint, Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from console.api.errors import ApiError
from console.api.keys import ApiKey, CreatedKey
from console.config.secrets import SecretStore, saved_key_account
from console.ui.actions import ActionRegistry, ConsoleAction
from console.ui.keys.model import STATUS_COLUMN, KeysTableModel, keys_filter
from console.ui.keys.rotation_panel import RotationPanel
from console.ui.protection import gate_button
from console.ui.session import ConsoleSession
from console.ui.tasks import TaskRunner
from console.ui.widgets.confirm import confirm_destructive
from console.ui.widgets.error_banner import error_text
from console.ui.widgets.row_table import ROW_ROLE, select_row, selected_row, setup_row_view
from console.ui.widgets.status_badge import StatusBadgeDelegate

if TYPE_CHECKING:
    # The dialogs are imported when first opened (or right after the first paint).
    from console.ui.keys.dialogs import AddKeyDialog, NewKeyRequest

STATUS_FILTERS = (
    ("All statuses", None),
    ("Active", "active"),
    ("Expiring", "expiring"),
    ("Expired", "expired"),
    ("Revoked", "revoked"),
)


class KeysTab(QWidget):
    """Admin keys and ingest keys of the connected account."""

    keys_loaded = Signal(int)  # number of keys listed
    key_created = Signal(object)  # ApiKey
    key_rotated = Signal(object)  # the new ApiKey
    key_revoked = Signal(object)  # ApiKey
    secret_shown = Signal(object)  # the SecretDialog, for whoever needs to watch it
    expiring_changed = Signal(int)  # keys flagged as expiring within 7 days
    key_renewed = Signal(object)  # the new ApiKey

    def __init__(
        self,
        session: ConsoleSession,
        runner: TaskRunner,
        secrets: SecretStore,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.runner = runner
        self.secrets = secrets
        self.model = KeysTableModel()
        self.proxy = keys_filter()
        self.proxy.setSourceModel(self.model)

        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Filter by name, key, feed or id")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setAccessibleName("Filter keys")
        self.search_edit.textChanged.connect(self._filter_changed)
        self.status_combo = QComboBox()
        self.status_combo.setAccessibleName("Key status")
        for title, status in STATUS_FILTERS:
            self.status_combo.addItem(title, status)
        self.status_combo.currentIndexChanged.connect(self._filter_changed)
        # F5 refreshes too; mnemonics (Alt+letter) are unique within the tab and the
        # window's connection row (tests/ui/test_keyboard.py checks).
        self.refresh_button = QPushButton("Re&fresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.add_button = QPushButton("&Add key…")
        self.add_button.setObjectName("primaryButton")
        self.add_button.clicked.connect(self.add_key)
        self.rotate_button = QPushButton("&Rotate…")
        self.rotate_button.clicked.connect(self.rotate_selected)
        self.revoke_button = QPushButton("Re&voke…")
        self.revoke_button.clicked.connect(self.revoke_selected)

        toolbar = QHBoxLayout()
        toolbar.addWidget(self.search_edit, 2)
        toolbar.addWidget(self.status_combo)
        toolbar.addStretch(1)
        toolbar.addWidget(self.refresh_button)
        toolbar.addWidget(self.rotate_button)
        toolbar.addWidget(self.revoke_button)
        toolbar.addWidget(self.add_button)

        self.table = QTableView()
        self.table.setAccessibleName("API keys")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(4, Qt.SortOrder.DescendingOrder)  # newest first
        setup_row_view(self.table)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(30)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setItemDelegateForColumn(STATUS_COLUMN, StatusBadgeDelegate(self.table))
        header = self.table.horizontalHeader()
        # The name takes what is left and elides; the other columns are as wide as what
        # they show, so Status stays in view at 1024 px without a horizontal scrollbar.
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.selectionModel().selectionChanged.connect(self._sync_buttons)
        self.table.doubleClicked.connect(self._copy_id_of)

        self.empty_label = QLabel()
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setStyleSheet("color: #5c5f66; font-size: 14px;")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.empty_label)

        self.summary_label = QLabel("Not loaded")
        self.summary_label.setStyleSheet("color: #5c5f66;")

        # The selected key's rotation, expiry and history (docs/console.md, "Key rotation").
        self.rotation_panel = RotationPanel(session, self)
        self.rotation_panel.revoke_requested.connect(self.revoke_now)
        self.rotation_panel.renew_requested.connect(self.renew)
        self.rotation_panel.grace_ticked.connect(self.model.repaint_expiry)
        self.table.selectionModel().selectionChanged.connect(self._show_rotation)

        layout = QVBoxLayout(self)
        layout.addLayout(toolbar)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.rotation_panel)
        layout.addWidget(self.summary_label)
        self._tab_order_in_window = False
        self.apply_tab_order()
        self._loading = False
        self._select_after_load: str | None = None
        # Writes refused (a locked production profile): the buttons stay, disabled, and say why.
        session.protection.writes_changed.connect(self._sync_buttons)
        self._sync_buttons()

    # -- loading -----------------------------------------------------------------

    def apply_tab_order(self) -> None:
        """Tab visits the toolbar in the order it is laid out, the table, then the selected
        key's rotation panel (its buttons left to right, then its history).

        Set again when the tab is first shown: moving the tab into the window rebuilds
        its focus chain, which loses the order set here for the panel after the table.
        """
        chain = (
            self.search_edit,
            self.status_combo,
            self.refresh_button,
            self.rotate_button,
            self.revoke_button,
            self.add_button,
            self.table,
            self.rotation_panel.renew_button,
            self.rotation_panel.revoke_now_button,
            self.rotation_panel.history,
        )
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)

    def showEvent(self, event: QShowEvent) -> None:
        """The first show, in its window: the focus chain as laid out (apply_tab_order)."""
        if not self._tab_order_in_window:
            self._tab_order_in_window = True
            self.apply_tab_order()
        super().showEvent(event)

    def refresh(self, *, select: str | None = None) -> asyncio.Task[None] | None:
        """Reload the keys (then select `select`); a newer refresh supersedes a running one."""
        if self.session.client is None:
            return None
        if select is not None:
            self._select_after_load = select
        return self.runner.start(self._load(), name="keys.refresh")

    def clear(self) -> None:
        """Forget the listed keys (the connection changed)."""
        self.runner.cancel("keys.refresh")
        self.model.set_rows([])
        self._select_after_load = None
        self.summary_label.setText("Not connected")
        self._sync_buttons()
        self._show_rotation()
        self.expiring_changed.emit(0)

    async def _load(self) -> None:
        self._loading = True
        self.summary_label.setText("Loading keys…")
        self.refresh_button.setEnabled(False)
        selected = self.selected_key()
        try:
            keys = await self.session.keys.list_all()
        except BaseException:
            self.summary_label.setText("Could not load keys: see the message above.")
            raise
        finally:
            self._loading = False
            self.refresh_button.setEnabled(True)
        self.model.set_rows(keys)
        client = self.session.client
        if client is not None:
            self.model.set_own_key(client.key_prefix, client.key_last4)
        target = self._select_after_load or (selected.id if selected is not None else None)
        self._select_after_load = None
        if target is not None and not self.select_key(target):
            self.clear_selection()  # hidden by the filter: no other key takes its place
        self._update_summary()
        self._sync_buttons()
        self._show_rotation()
        self.expiring_changed.emit(self.model.renewal_count())
        self.keys_loaded.emit(len(keys))

    def _update_summary(self) -> None:
        total = self.model.rowCount()
        shown = self.proxy.rowCount()
        revoked = sum(1 for k in self.model.all_rows() if k.is_revoked)
        text = f"{total} key{'s' if total != 1 else ''} ({revoked} revoked)"
        if shown != total:
            text += f" · {shown} shown"
        self.summary_label.setText(text)
        if total == 0:
            self.empty_label.setText(
                "No API keys yet.\n"
                "Add one so a service or a colleague's tool can call the platform."
            )
            self.stack.setCurrentWidget(self.empty_label)
        elif shown == 0:
            self.empty_label.setText("No key matches the filter.")
            self.stack.setCurrentWidget(self.empty_label)
        else:
            self.stack.setCurrentWidget(self.table)

    def _filter_changed(self) -> None:
        # A filter hides rows; it never chooses another key. Qt moves the selection to a
        # neighbouring row when the selected one is filtered out, so decide it here.
        selected = self.selected_key()
        self.proxy.set_text(self.search_edit.text())
        self.proxy.set_status(self.status_combo.currentData())
        if selected is not None and not self.select_key(selected.id):
            self.clear_selection()
        self._update_summary()
        self._sync_buttons()

    def clear_selection(self) -> None:
        """Nothing selected, nothing current: Rotate and Revoke have no key to act on."""
        selection = self.table.selectionModel()
        selection.clearSelection()
        selection.setCurrentIndex(QModelIndex(), QItemSelectionModel.SelectionFlag.NoUpdate)

    # -- selection ---------------------------------------------------------------

    def selected_key(self) -> ApiKey | None:
        """The key of the selected row, if any."""
        key = selected_row(self.table)
        return key if isinstance(key, ApiKey) else None

    def select_key(self, key_id: str) -> bool:
        """Select the row of `key_id`; False when it is not shown."""
        return select_row(self.table, key_id)

    def _sync_buttons(self) -> None:
        key = self.selected_key()
        connected = self.session.client is not None
        gate = self.session.protection
        gate_button(gate, self.add_button, connected)
        self.refresh_button.setEnabled(connected and not self._loading)
        usable = key is not None and not key.is_revoked
        revoked = key is not None and key.is_revoked
        gate_button(
            gate,
            self.revoke_button,
            connected and usable,
            "Revoked keys cannot be reactivated or rotated." if revoked else "",
        )
        gate_button(
            gate,
            self.rotate_button,
            connected and usable and key is not None and key.status != "expired",
        )

    def _context_menu(self, position: QPoint) -> None:
        index = self.table.indexAt(position)
        if not index.isValid():
            return
        self.table.selectRow(index.row())
        menu = QMenu(self)
        copy = QAction("Copy key ID", menu)
        copy.triggered.connect(lambda: self._copy_id_of(index))
        menu.addAction(copy)
        for button in (self.rotate_button, self.revoke_button):
            action = QAction(button.text(), menu)
            action.setEnabled(button.isEnabled())
            action.setToolTip(button.toolTip())
            action.triggered.connect(button.click)
            menu.addAction(action)
        menu.popup(self.table.viewport().mapToGlobal(position))

    def _copy_id_of(self, index: QModelIndex) -> None:
        key = index.data(ROW_ROLE)
        if isinstance(key, ApiKey):
            QGuiApplication.clipboard().setText(key.id)

    def is_own_key(self, key: ApiKey) -> bool:
        """Whether the console itself authenticates with `key`."""
        return not key.is_revoked and self.session.uses_key(key.prefix, key.last4)

    # -- add ---------------------------------------------------------------------

    def add_key(self) -> None:
        """Open the Add dialog (after fetching the feeds ingest keys can use)."""
        if not self.session.protection.permit("Add key"):
            return
        self.runner.start(self._open_add_dialog(), name="keys.add")

    async def _open_add_dialog(self) -> None:
        from console.ui.keys.dialogs import AddKeyDialog

        feeds = await self.session.feeds.list_all()
        dialog = AddKeyDialog(feeds, self)
        # Mutations are never pre-empted: cancelling one after the server acted would
        # drop the only copy of a new secret.
        dialog.submitted.connect(
            lambda request: (
                self.runner.start(self._create(dialog, request))
                if self.session.protection.permit("Add key")
                else None
            )
        )
        dialog.finished.connect(dialog.deleteLater)
        self.add_dialog = dialog
        dialog.open()

    async def _create(self, dialog: AddKeyDialog, request: NewKeyRequest) -> None:
        try:
            created = await self.session.keys.create(
                request.name,
                "ingest" if request.kind == "ingest" else "admin",
                feed=request.feed,
                expires_at=request.expires_at,
            )
        except ApiError as error:
            dialog.show_error(error_text(error))
            return
        except BaseException as error:
            dialog.show_error(f"Could not create the key: {error or type(error).__name__}")
            raise
        dialog.accept()
        self.key_created.emit(created.key)
        self._show_secret(created, "Your new API key")
        self.refresh(select=created.key.id)

    # -- rotate ------------------------------------------------------------------

    def rotate_selected(self) -> None:
        """Ask for a grace period, then rotate the selected key."""
        key = self.selected_key()
        if key is None or key.is_revoked or not self.session.protection.permit("Rotate"):
            return
        from console.ui.keys.dialogs import RotateDialog

        dialog = RotateDialog(key, is_own_key=self.is_own_key(key), parent=self)
        dialog.accepted.connect(
            lambda: (
                self.runner.start(self._rotate(key, dialog.grace_seconds))
                if self.session.protection.permit("Rotate")
                else None
            )
        )
        dialog.finished.connect(dialog.deleteLater)
        self.rotate_dialog = dialog
        dialog.open()

    async def _rotate(self, key: ApiKey, grace_seconds: int) -> None:
        own = self.is_own_key(key)
        # Rotating our own key: other requests answered 401 meanwhile are asked again
        # with the new key once it is adopted, instead of failing.
        changing = self.session.require_client().changing_key() if own else contextlib.nullcontext()
        async with changing:
            created = await self.session.keys.rotate(key.id, grace_seconds=grace_seconds)
            # The secret is on screen before anything else can fail.
            self._show_secret(created, "Your rotated API key")
            self.key_rotated.emit(created.key)
            try:
                if own:
                    self.session.adopt_rotated_key(created.secret)
            finally:
                self.refresh(select=created.key.id)

    # -- revoke ------------------------------------------------------------------

    def revoke_selected(self) -> None:
        """Confirm, naming the key (on production: type its name), then revoke it."""
        key = self.selected_key()
        if key is None or key.is_revoked:
            return
        from console.ui.keys.dialogs import revoke_confirmation

        own = self.is_own_key(key)
        box = confirm_destructive(
            self.session.protection,
            lambda typed: revoke_confirmation(
                key, is_own_key=own, parent=self, type_to_confirm=typed
            ),
            key.name,
            lambda: self.runner.start(self._revoke(key)),
        )
        if box is not None:
            self.revoke_box = box

    async def _revoke(self, key: ApiKey) -> None:
        revoked = await self.session.keys.revoke(key.id)
        self.key_revoked.emit(revoked)
        self.refresh()

    # -- rotation and expiry ------------------------------------------------------

    def _show_rotation(self) -> None:
        self.rotation_panel.show_key(self.selected_key(), self.model.all_rows())

    def show_expiring(self) -> None:
        """Select the first key flagged as expiring within 7 days (the status bar's link)."""
        flagged = [key for key in self.model.all_rows() if self.model.needs_renewal(key)]
        if not flagged:
            return
        if not self.select_key(flagged[0].id):
            self.search_edit.clear()
            self.status_combo.setCurrentIndex(0)
            self.select_key(flagged[0].id)

    def register_rotation_actions(self, registry: ActionRegistry) -> None:
        """Offer Renew in the palette (it acts on the selected key, as the button does)."""
        panel = self.rotation_panel
        registry.register(
            ConsoleAction(
                "keys.renew",
                "Renew the selected key",
                "Keys",
                run=panel.renew_button.click,
                description="A new key with the same name, kind, feed and expiry period",
                enabled=panel.renew_button.isEnabled,
                disabled_reason=lambda: (
                    self.session.protection.refusal()
                    or (None if self.selected_key() is not None else "Select a key first.")
                ),
                writes=True,
            )
        )

    def revoke_now(self, key: ApiKey) -> None:
        """Revoke `key` at once after one confirmation (a leaked key in its grace)."""
        from console.ui.keys.dialogs import revoke_confirmation

        self.revoke_box = revoke_confirmation(key, is_own_key=self.is_own_key(key), parent=self)
        self.revoke_box.ask(lambda: self.runner.start(self._revoke(key)))

    def renew(self, key: ApiKey) -> None:
        """Ask what becomes of the old key, then create its renewal."""
        from console.ui.keys.renew import RenewDialog

        dialog = RenewDialog(key, parent=self)
        dialog.accepted.connect(lambda: self.runner.start(self._renew(key, dialog.old_key_grace)))
        dialog.finished.connect(dialog.deleteLater)
        self.renew_dialog = dialog
        dialog.open()

    async def _renew(self, key: ApiKey, old_key_grace: int) -> None:
        from console.ui.keys.renew import create_renewal

        created, note = await create_renewal(self.session.keys, key, old_key_grace)
        # The secret is on screen before anything else can fail.
        self._show_secret(created, "Your renewed API key")
        self.key_renewed.emit(created.key)
        try:
            if old_key_grace == 0:
                self.key_revoked.emit(await self.session.keys.revoke(key.id))
        finally:
            loading = self.refresh(select=created.key.id)
        if note is not None and loading is not None:
            await loading
            self.rotation_panel.error_label.setText(note)

    # -- secrets -----------------------------------------------------------------

    def _show_secret(self, created: CreatedKey, heading: str) -> None:
        from console.ui.keys.dialogs import SecretDialog

        dialog = SecretDialog(
            created,
            keychain_reason=self.secrets.unavailable_reason,
            save_to_keychain=self._save_to_keychain,
            heading=heading,
            parent=self,
        )
        dialog.finished.connect(dialog.deleteLater)
        self.secret_dialog = dialog
        dialog.open()
        self.secret_shown.emit(dialog)

    def _save_to_keychain(self, created: CreatedKey) -> bool:
        return self.secrets.set(saved_key_account(created.key.id, created.key.name), created.secret)
