"""The Records tab's dialogs: the JSON editor (new/upsert, edit with its patch), fetch ids.

Each opens with `open()` (never a nested event loop inside a coroutine, STACK_NOTES 2) and
emits `submitted` with what to send; the tab sends it and then either closes the dialog
or shows the server's error in it, keeping what the user typed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase, QTextCursor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from console.api.feeds import Feed
from console.api.records import Record, UnrepresentableNullError, edit_patch

VALIDATE_DEBOUNCE_MS = 100
MAX_JSON_CHARS = 1_000_000  # the server refuses bodies over 1 MiB
MAX_FETCH_IDS = 1000
OK_STYLE = "color: #11643a;"
PROBLEM_STYLE = "color: #8f1d12;"


@dataclass(frozen=True)
class JsonCheck:
    """The editor's text, judged: the parsed object, or where and why it is wrong."""

    data: dict[str, Any] | None
    problem: str = ""
    line: int = 0  # 1-based; 0: no position
    column: int = 0
    system_id: str | None = None


def system_id_text(value: Any) -> str | None:
    """The system id a data value gives (text or whole number), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def check_json(text: str, id_field: str, *, original: Record | None = None) -> JsonCheck:
    """Parse `text` as a record's data and check its id field (unchanged, for an edit)."""
    if len(text) > MAX_JSON_CHARS:
        return JsonCheck(None, f"Too large: at most {MAX_JSON_CHARS:,} characters.")
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        return JsonCheck(
            None,
            f"Line {error.lineno}, column {error.colno}: {error.msg}",
            error.lineno,
            error.colno,
        )
    except ValueError as error:  # NaN/Infinity, or an integer too long to read
        return JsonCheck(None, str(error))
    if not isinstance(data, dict):
        return JsonCheck(None, "A record's data is a JSON object: { … }.")
    raw = data.get(id_field)
    system_id = system_id_text(raw)
    if original is not None:
        if original.system_id is not None and system_id != original.system_id:
            return JsonCheck(
                None,
                f"The id field “{id_field}” identifies this record ({original.system_id}); "
                "it cannot change in an edit. Create a new record instead.",
            )
        return JsonCheck(data, system_id=system_id)
    if id_field not in data:
        return JsonCheck(None, f"The feed's id field “{id_field}” is missing.")
    if system_id is None:
        return JsonCheck(
            None, f"The id field “{id_field}” must be a non-empty text or a whole number."
        )
    return JsonCheck(data, system_id=system_id)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (the server accepts finite numbers only).")


class JsonRecordDialog(QDialog):
    """Write a record's data as JSON, checked as you type.

    New (`original` None): the data is upserted by its id field. Edit: the exact merge
    patch is shown for confirmation first, and only the changed fields are sent.
    """

    submitted = Signal(object)  # dict: the data (new) or the PATCH body (edit)

    def __init__(
        self, feed: Feed, original: Record | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.feed = feed
        self.original = original
        self.patch: dict[str, Any] | None = None
        self.check = JsonCheck(None)
        editing = original is not None
        self.setWindowTitle(
            f"Edit record {original.system_id or original.guid}"
            if original is not None
            else f"New record in {feed.name}"
        )
        self.resize(640, 560)
        fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)

        intro = QLabel(
            "Change the data below. Only the fields you change are sent, as a JSON merge "
            "patch, which you see before it is sent."
            if editing
            else f"The record's data as a JSON object. It must hold the feed's id field "
            f"“{feed.id_field}”: a record with that id is updated, otherwise one is created."
        )
        intro.setWordWrap(True)
        self.editor = QPlainTextEdit()
        self.editor.setAccessibleName("Record data (JSON)")
        self.editor.setFont(fixed)
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.editor.setTabChangesFocus(True)
        if original is not None:
            self.editor.setPlainText(json.dumps(original.data, indent=2, ensure_ascii=False))
        else:
            self.editor.setPlainText(json.dumps({feed.id_field: ""}, indent=2))
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.go_to_problem = QPushButton("Go to the &problem")
        self.go_to_problem.clicked.connect(self._go_to_problem)
        edit_page = QWidget()
        edit_layout = QVBoxLayout(edit_page)
        edit_layout.setContentsMargins(0, 0, 0, 0)
        edit_layout.addWidget(intro)
        edit_layout.addWidget(self.editor, 1)
        edit_layout.addWidget(self.status_label)
        edit_layout.addWidget(self.go_to_problem, 0, Qt.AlignmentFlag.AlignLeft)

        # The confirmation step of an edit: the exact body of the PATCH.
        review_intro = QLabel(
            "This exact merge patch will be sent (RFC 7396): fields not in it stay as "
            "they are, null removes a field, and an array is replaced whole."
        )
        review_intro.setWordWrap(True)
        self.patch_view = QPlainTextEdit()
        self.patch_view.setAccessibleName("Changes to apply")
        self.patch_view.setReadOnly(True)
        self.patch_view.setFont(fixed)
        self.changed_label = QLabel("")
        self.changed_label.setWordWrap(True)
        review_page = QWidget()
        review_layout = QVBoxLayout(review_page)
        review_layout.setContentsMargins(0, 0, 0, 0)
        review_layout.addWidget(review_intro)
        review_layout.addWidget(self.changed_label)
        review_layout.addWidget(self.patch_view, 1)

        self.pages = QStackedWidget()
        self.pages.addWidget(edit_page)
        self.pages.addWidget(review_page)
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(PROBLEM_STYLE)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()

        self.buttons = QDialogButtonBox()
        self.primary_button = self.buttons.addButton(
            "&Review changes…" if editing else "&Save record",
            QDialogButtonBox.ButtonRole.AcceptRole,
        )
        self.back_button = self.buttons.addButton("&Back", QDialogButtonBox.ButtonRole.ResetRole)
        self.back_button.hide()
        cancel = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.clicked.connect(self.reject)
        self.primary_button.clicked.connect(self._primary)
        self.back_button.clicked.connect(self._back)

        layout = QVBoxLayout(self)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(VALIDATE_DEBOUNCE_MS)
        self._timer.timeout.connect(self.validate)
        self.editor.textChanged.connect(self._timer.start)
        self.sending = False
        self.validate()

    # -- checking ------------------------------------------------------------------

    def validate(self) -> JsonCheck:
        """Check the text now and say what is wrong, or what will happen."""
        self._timer.stop()
        self.check = check_json(
            self.editor.toPlainText(), self.feed.id_field, original=self.original
        )
        if self.check.data is None:
            self.status_label.setText(self.check.problem)
            self.status_label.setStyleSheet(PROBLEM_STYLE)
        elif self.original is not None:
            self.status_label.setText("Valid JSON object.")
            self.status_label.setStyleSheet(OK_STYLE)
        else:
            self.status_label.setText(
                f"Valid: {self.feed.id_field} = {self.check.system_id} "
                "(creates the record, or updates the one with that id)."
            )
            self.status_label.setStyleSheet(OK_STYLE)
        self.go_to_problem.setVisible(self.check.line > 0)
        self._sync()
        return self.check

    def _go_to_problem(self) -> None:
        check = self.check
        if check.line <= 0:
            return
        block = self.editor.document().findBlockByNumber(check.line - 1)
        cursor = QTextCursor(block)
        # json counts code points; a Qt cursor counts UTF-16 units (STACK_NOTES 8).
        prefix = block.text()[: max(0, check.column - 1)]
        cursor.setPosition(block.position() + len(prefix) + _surrogates_before(prefix))
        self.editor.setTextCursor(cursor)
        self.editor.setFocus()

    def _sync(self) -> None:
        reviewing = self.pages.currentIndex() == 1
        self.primary_button.setEnabled(
            not self.sending and (reviewing or self.check.data is not None)
        )
        self.back_button.setVisible(reviewing)
        self.back_button.setEnabled(not self.sending)

    # -- the steps -----------------------------------------------------------------

    def _primary(self) -> None:
        check = self.validate() if self._timer.isActive() else self.check
        if self.original is None:
            if check.data is not None:
                self._send(check.data)
            return
        if self.pages.currentIndex() == 0:
            self.review()
        elif self.patch:
            self._send(self.patch)

    def review(self) -> bool:
        """Edit: compute the merge patch and show it; False when there is nothing to send."""
        check = self.validate()
        if check.data is None or self.original is None:
            return False
        try:
            patch = edit_patch(self.original, check.data)
        except UnrepresentableNullError as error:
            self.show_error(str(error))
            return False
        if not patch:
            self.show_error("Nothing changed: there is no patch to send.")
            return False
        self.error_label.hide()
        self.patch = patch
        self.patch_view.setPlainText(json.dumps(patch, indent=2, ensure_ascii=False))
        data_patch = patch.get("data")
        fields = sorted(data_patch) if isinstance(data_patch, dict) else []
        removed = [f for f in fields if isinstance(data_patch, dict) and data_patch[f] is None]
        text = f"Changed fields: {', '.join(fields)}" if fields else "No data fields change."
        if removed:
            text += f" (removed: {', '.join(removed)})"
        self.changed_label.setText(text)
        self.pages.setCurrentIndex(1)
        self.primary_button.setText("&Send patch")
        self._sync()
        return True

    def _back(self) -> None:
        self.pages.setCurrentIndex(0)
        self.primary_button.setText("&Review changes…")
        self.error_label.hide()
        self._sync()

    def _send(self, body: dict[str, Any]) -> None:
        self.sending = True
        self.error_label.hide()
        self._sync()
        self.submitted.emit(body)

    def show_error(self, text: str) -> None:
        """The server refused (or nothing to send): say why and let the user fix it."""
        self.sending = False
        self.error_label.setText(text)
        self.error_label.show()
        self._sync()


def _surrogates_before(text: str) -> int:
    """Characters of `text` outside the BMP (two UTF-16 units each)."""
    return sum(1 for character in text if ord(character) > 0xFFFF)


ID_SEPARATORS = re.compile(r"[\s,;]+")


def parse_ids(text: str) -> list[str]:
    """Ids separated by new lines, commas, semicolons or spaces; repeats dropped."""
    seen: dict[str, None] = {}
    for part in ID_SEPARATORS.split(text):
        if part:
            seen.setdefault(part, None)
    return list(seen)


class FetchDialog(QDialog):
    """Ask which id (Trigger fetch) or ids (Fetch list) the feed's connector should pull."""

    submitted = Signal(object)  # list[str]

    def __init__(self, feed: Feed, *, many: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.feed = feed
        self.many = many
        self.setWindowTitle(f"{'Fetch list' if many else 'Trigger fetch'} — {feed.name}")
        text = (
            f"The {feed.method} feed's connector pulls these records from its source. "
            f"Ids of “{feed.id_field}”, one a line (or separated by commas)."
            if many
            else f"The {feed.method} feed's connector pulls this record from its source, "
            f"by its “{feed.id_field}”."
        )
        intro = QLabel(text)
        intro.setWordWrap(True)
        self.id_edit = QLineEdit()
        self.id_edit.setPlaceholderText(feed.id_field)
        self.ids_edit = QPlainTextEdit()
        self.ids_edit.setAccessibleName("Ids to fetch, one a line")
        self.id_edit.setAccessibleName("Id to fetch")
        self.ids_edit.setPlaceholderText("one id a line")
        self.ids_edit.setTabChangesFocus(True)
        self.id_edit.setVisible(not many)
        self.ids_edit.setVisible(many)
        self.status_label = QLabel("")
        self.status_label.setStyleSheet(PROBLEM_STYLE)
        self.status_label.setWordWrap(True)
        self.buttons = QDialogButtonBox()
        self.fetch_button = self.buttons.addButton("&Fetch", QDialogButtonBox.ButtonRole.AcceptRole)
        cancel = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.clicked.connect(self.reject)
        self.fetch_button.clicked.connect(self._fetch)
        self.id_edit.textChanged.connect(self._sync)
        self.ids_edit.textChanged.connect(self._sync)
        self.id_edit.returnPressed.connect(self._fetch)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.id_edit)
        layout.addWidget(self.ids_edit, 1)
        layout.addWidget(self.status_label)
        layout.addWidget(self.buttons)
        self.resize(460, 320 if many else 160)
        self.sending = False
        self._sync()

    def ids(self) -> list[str]:
        """The ids typed."""
        if self.many:
            return parse_ids(self.ids_edit.toPlainText())
        text = self.id_edit.text().strip()
        return [text] if text else []

    def _sync(self) -> None:
        ids = self.ids()
        problem = ""
        if len(ids) > MAX_FETCH_IDS:
            problem = f"At most {MAX_FETCH_IDS} ids at a time ({len(ids)} given)."
        if not self.sending:
            self.status_label.setText(problem)
        self.fetch_button.setEnabled(bool(ids) and not problem and not self.sending)

    def _fetch(self) -> None:
        if not self.fetch_button.isEnabled():
            return
        self.sending = True
        self._sync()
        self.submitted.emit(self.ids())

    def show_error(self, text: str) -> None:
        """The server refused: say why and let the user change the ids."""
        self.sending = False
        self.status_label.setText(text)
        self._sync()
