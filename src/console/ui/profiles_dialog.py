"""Connection-profile manager: name, base URL, auth mode, and the key in the keychain."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.api.capabilities import (
    QUERY_AUTH_WARNING,
    TEMPLATES,
    ProfileTemplate,
    describe,
    describe_key,
    discover,
    try_key,
)
from console.api.errors import ApiError
from console.api.transport import ApiClient
from console.common.redaction import looks_like_key
from console.config.profiles import ENVIRONMENTS, ConnectionProfile, ProfileError, Settings
from console.config.secrets import SecretStore, profile_account
from console.ui.environment_band import environment_icon
from console.ui.widgets.confirm import Confirmation
from console.ui.widgets.error_banner import error_text

NEW_PROFILE = "(new profile)"
# A new profile is production until the user says otherwise: read-only is the safe mistake.
NEW_PROFILE_ENVIRONMENT = "production"


class ProfilesDialog(QDialog):
    """Add, edit, test and delete connection profiles."""

    saved = Signal()
    deleted = Signal(str)  # profile name, after the user confirmed
    edited = Signal(str, str, bool)  # old name, new name, whether a new key was typed
    connect_requested = Signal(str)  # profile name
    tested = Signal(bool, str)  # ok, message

    def __init__(
        self,
        settings: Settings,
        secrets: SecretStore,
        parent: QWidget | None = None,
        *,
        connected: Callable[[], str | None] = lambda: None,
    ):
        super().__init__(parent)
        self.setWindowTitle("Connection profiles")
        self.setMinimumSize(720, 380)
        self.settings = settings
        self.secrets = secrets
        self._connected = connected  # the name of the profile the console is connected to
        self._editing: str | None = None
        self._test_task: asyncio.Task[None] | None = None

        self.list = QListWidget()
        self.list.setAccessibleName("Connection profiles")
        self.list.currentTextChanged.connect(self._load_profile)
        new = QPushButton("Ne&w")
        new.clicked.connect(self.new_profile)
        self.delete_button = QPushButton("&Delete")
        self.delete_button.clicked.connect(self.delete_profile)
        left = QVBoxLayout()
        left.addWidget(self.list, 1)
        row = QHBoxLayout()
        row.addWidget(new)
        row.addWidget(self.delete_button)
        left.addLayout(row)

        # A real service's base URL pattern, auth mode and key kind fill the form.
        self.template_combo = QComboBox()
        self.template_combo.addItem("(none: any platform server)", None)
        for template in TEMPLATES:
            self.template_combo.addItem(template.name, template.name)
        self.template_combo.activated.connect(self._template_chosen)
        self.template_combo.setAccessibleName("Profile template")
        self.template_combo.setAccessibleDescription(
            "Fills the form with a real service's base URL pattern, auth mode and key kind"
        )
        self.template_note = QLabel()
        self.template_note.setWordWrap(True)
        self.template_note.setStyleSheet("color: #5c5f66;")
        self.template_note.hide()
        self.name_edit = QLineEdit()
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("https://api.example.com")
        self.auth_combo = QComboBox()
        self.auth_combo.setAccessibleName("Authentication")
        self.auth_combo.addItem("Authorization header (recommended)", "header")
        self.auth_combo.addItem("apiKey query parameter", "query")
        self.environment_combo = QComboBox()
        for environment in ENVIRONMENTS:
            self.environment_combo.addItem(
                environment_icon(environment), environment.capitalize(), environment
            )
        self.environment_combo.setToolTip(
            "Production opens read-only: writes need “Unlock writes” (15 minutes) and "
            "destructive actions ask you to type the object's name."
        )
        self.query_warning = QLabel(QUERY_AUTH_WARNING)
        self.query_warning.setWordWrap(True)
        self.query_warning.setStyleSheet("color: #8a4b00;")
        self.query_warning.hide()
        self.auth_combo.currentIndexChanged.connect(self._warn_about_query_auth)
        self.key_edit = QLineEdit()
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_note = QLabel()
        self.key_note.setWordWrap(True)
        self.key_note.setStyleSheet("color: #5c5f66;")
        self.message = QLabel()
        self.message.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Tem&plate", self.template_combo)
        form.addRow("", self.template_note)
        form.addRow("&Name", self.name_edit)
        form.addRow("Base &URL", self.url_edit)
        form.addRow("&Authentication", self.auth_combo)
        form.addRow("", self.query_warning)
        self.environment_combo.setAccessibleName("Environment")
        form.addRow("En&vironment", self.environment_combo)
        self.key_label = QLabel("Admin &key")
        self.key_label.setBuddy(self.key_edit)
        form.addRow(self.key_label, self.key_edit)
        form.addRow("", self.key_note)
        self.save_button = QPushButton("&Save")
        self.save_button.clicked.connect(self.save_profile)
        self.test_button = QPushButton("&Test connection")
        self.test_button.clicked.connect(self.test_connection)
        self.connect_button = QPushButton("&Connect")
        self.connect_button.clicked.connect(self._connect)
        close = QPushButton("C&lose")
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(self.test_button)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.connect_button)
        buttons.addWidget(close)
        right = QVBoxLayout()
        right.addLayout(form)
        right.addWidget(self.message)
        right.addStretch(1)
        right.addLayout(buttons)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 1)
        layout.addLayout(right, 2)
        self._refresh_list()
        self.finished.connect(self._cancel_test)

    def _refresh_list(self, select: str | None = None) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for profile in self.settings.profiles:
            self.list.addItem(profile.name)
        self.list.blockSignals(False)
        target = select or self.settings.active_profile
        matches = self.list.findItems(target, Qt.MatchFlag.MatchExactly) if target else []
        if matches:
            self.list.setCurrentItem(matches[0])
        elif self.list.count():
            self.list.setCurrentRow(0)
        else:
            self.new_profile()

    def _load_profile(self, name: str) -> None:
        profile = self.settings.profile(name)
        self.message.clear()
        if profile is None:
            return
        self._editing = profile.name
        self.name_edit.setText(profile.name)
        self.url_edit.setText(
            profile.base_url if not profile.is_sandbox else "(started by the console)"
        )
        self.auth_combo.setCurrentIndex(max(0, self.auth_combo.findData(profile.auth_mode)))
        self.environment_combo.setCurrentIndex(
            max(0, self.environment_combo.findData(profile.environment))
        )
        for widget in (
            self.name_edit,
            self.url_edit,
            self.auth_combo,
            self.environment_combo,
            self.key_edit,
        ):
            widget.setEnabled(not profile.is_sandbox)
        self.key_edit.clear()
        self._describe_key_storage(profile)

    def _describe_key_storage(self, profile: ConnectionProfile | None) -> None:
        if profile is not None and profile.is_sandbox:
            self.key_note.setText(
                "The console mints and keeps the sandbox's key itself "
                f"(data in {profile.sandbox_data_dir})."
            )
            return
        has_key = profile is not None and self.secrets.get(profile_account(profile.name))
        if self.secrets.persistent:
            note = "Stored in this computer's keychain, never in the settings file."
            if has_key:
                note = "A key is stored in the keychain; leave empty to keep it. " + note
        else:
            note = (
                f"Kept in memory until you quit: {self.secrets.unavailable_reason}. "
                "The console never writes keys to a plain file."
            )
        self.key_edit.setPlaceholderText(
            "fdk_…" if not has_key else "(stored; leave empty to keep)"
        )
        self.key_note.setText(note)

    def new_profile(self) -> None:
        """Start a blank profile."""
        self._editing = None
        self.list.clearSelection()
        self.name_edit.setText("")
        self.url_edit.setText("")
        self.auth_combo.setCurrentIndex(0)
        self.environment_combo.setCurrentIndex(
            self.environment_combo.findData(NEW_PROFILE_ENVIRONMENT)
        )
        self.key_edit.clear()
        for widget in (
            self.name_edit,
            self.url_edit,
            self.auth_combo,
            self.environment_combo,
            self.key_edit,
        ):
            widget.setEnabled(True)
        self._describe_key_storage(None)
        self.name_edit.setFocus()

    def ask_for_key(self, name: str) -> None:
        """Select `name` and say that its key is needed."""
        self._refresh_list(select=name)
        self.key_edit.setFocus()
        self._say(False, f"Enter the admin key of “{name}” to connect.")

    def _form_profile(self) -> ConnectionProfile:
        profile = ConnectionProfile(
            name=self.name_edit.text().strip(),
            base_url=self.url_edit.text().strip().rstrip("/"),
            auth_mode=str(self.auth_combo.currentData()),
            environment=str(self.environment_combo.currentData()),
        )
        existing = self.settings.profile(self._editing) if self._editing else None
        if existing is not None and existing.is_sandbox:
            return existing
        profile.validate()
        key = self.key_edit.text().strip()
        if "{" in profile.base_url or "}" in profile.base_url:
            raise ProfileError(
                "Base URL: replace the part in braces (such as {integration-id}) with yours."
            )
        if key and not looks_like_key(key):
            raise ProfileError(
                "Admin key: paste a whole key (fdk_ followed by 40 characters; an ingest "
                "key, for services that take one, is ik_live_ followed by 32)."
            )
        return profile

    def _template_chosen(self, index: int) -> None:
        name = self.template_combo.itemData(index)
        template = next((t for t in TEMPLATES if t.name == name), None)
        if template is not None:
            self.apply_template(template)

    def apply_template(self, template: ProfileTemplate) -> None:
        """Fill the form with a real service's base URL pattern, auth mode and key kind;
        the part of the URL to replace is selected."""
        if not self.name_edit.text().strip():
            self.name_edit.setText(template.name)
        self.url_edit.setText(template.base_url)
        start = template.base_url.find("{")
        if start >= 0:
            self.url_edit.setSelection(start, template.base_url.find("}") - start + 1)
        self.url_edit.setFocus()
        self.auth_combo.setCurrentIndex(max(0, self.auth_combo.findData(template.auth_mode)))
        ingest = template.key_prefix.startswith("ik_")
        self.key_label.setText("Ingest &key" if ingest else "Admin &key")
        self.key_edit.setPlaceholderText(f"{template.key_prefix}…")
        auth = " or ".join(
            {"header": "Authorization header", "query": "apiKey query"}[mode]
            for mode in template.auth_modes
        )
        self.template_note.setText(f"{template.note} Auth: {auth}.")
        self.template_note.show()

    def _warn_about_query_auth(self) -> None:
        self.query_warning.setVisible(self.auth_combo.currentData() == "query")

    def save_profile(self) -> bool:
        """Validate and save; the message says what to fix."""
        before = self.settings.profile(self._editing) if self._editing else None
        try:
            profile = self._form_profile()
            self.settings.upsert(profile, old_name=self._editing)
        except ProfileError as exc:
            self._say(False, str(exc))
            return False
        key = self.key_edit.text().strip()
        edited_from = self._editing if before is not None else None
        new_key = bool(key)
        confirmation = f"Saved “{profile.name}”."
        renamed_from = self._editing if self._editing not in (None, profile.name) else None
        if renamed_from is not None:
            # The key follows the profile to its new name (unless a new key was typed).
            old_account = profile_account(renamed_from)
            key = key or self.secrets.get(old_account) or ""
            self.secrets.delete(old_account)
        if key:
            kept = self.secrets.set(profile_account(profile.name), key)
            where = "in the keychain" if kept else "in memory for this session"
            confirmation = f"Saved “{profile.name}”; its key is kept {where}."
        self._editing = profile.name
        self.saved.emit()
        if edited_from is not None and (before != profile or new_key):
            self.edited.emit(edited_from, profile.name, new_key)
        self._refresh_list(select=profile.name)  # reloads the form, clearing the key field
        self._say(True, confirmation)
        return True

    def delete_profile(self) -> None:
        """Ask, then forget the selected profile and its key (disconnecting if in use)."""
        name = self._editing
        if name is None:
            return
        in_use = self._connected() == name
        profile = self.settings.profile(name)
        if profile is not None and profile.is_sandbox:
            info = (
                f"The sandbox's data and key stay in {profile.sandbox_data_dir}; "
                "starting with --sandbox adds the profile again."
            )
        else:
            info = "Its saved key is removed from this computer too."
        if in_use:
            info = (
                "The console is connected to it now: it disconnects and the tabs are "
                "cleared (unapplied pipeline edits stay in their drafts). " + info
            )
        self.delete_box = Confirmation(
            self, "Delete connection profile", f"Delete “{name}”?", info, "Delete"
        )
        self.delete_box.ask(lambda: self._delete(name))

    def _delete(self, name: str) -> None:
        self.secrets.delete(profile_account(name))
        self.settings.remove(name)
        self.deleted.emit(name)
        self.saved.emit()
        self._editing = None
        self._refresh_list()
        self._say(True, f"Deleted “{name}”.")

    def _connect(self) -> None:
        if self.save_profile() and self._editing:
            self.connect_requested.emit(self._editing)
            self.accept()

    def test_connection(self) -> None:
        """Call the server with the form's URL and key; report latency or the error."""
        try:
            profile = self._form_profile()
        except ProfileError as exc:
            self._say(False, str(exc))
            return
        if profile.is_sandbox:
            self._say(True, "The sandbox profile is tested each time the console connects.")
            return
        key = self.key_edit.text().strip() or self.secrets.get(profile_account(profile.name))
        if not key:
            self._say(False, "Admin key: enter the key to test with.")
            return
        self._say(True, "Testing…")
        self._cancel_test()
        self._test_task = asyncio.ensure_future(self._test(profile, key))

    async def _test(self, profile: ConnectionProfile, key: str) -> None:
        client = ApiClient(profile.base_url, key, auth_mode=profile.auth_mode, max_retries=0)  # type: ignore[arg-type]
        try:
            capabilities = await discover(client)
            if not capabilities.parts:
                raise ValueError("no part of the platform API answered")
            tried = await try_key(client, capabilities)
            latency = client.last_latency_ms or 0
            key_said = "the key works" if tried else "its routes take the key at the first use"
            said = f"Connected in {latency:.0f} ms; {key_said}. {describe(capabilities)}"
            self._say(True, " ".join(text for text in (said, describe_key(capabilities)) if text))
        except ApiError as error:
            self._say(False, error_text(error))
        except ValueError:
            self._say(
                False,
                "The server answered, but not with the platform API's JSON: check the base "
                "URL (it should be the API root, not a web page).",
            )
        except Exception as error:
            self._say(False, f"The test failed: {type(error).__name__}: {error}")
        finally:
            await client.aclose()

    def _cancel_test(self) -> None:
        if self._test_task is not None and not self._test_task.done():
            self._test_task.cancel()

    def _say(self, ok: bool, text: str) -> None:
        self.message.setStyleSheet("color: #11643a;" if ok else "color: #a61b0f;")
        self.message.setText(text)
        if text != "Testing…":
            self.tested.emit(ok, text)
