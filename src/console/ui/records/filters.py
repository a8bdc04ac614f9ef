"""The Records tab's filter bar: text, GUID, system id, changed since, field = value, status.

It holds no query of its own: `query()` reads the widgets, and `changed` says when that
answer changed. Typing is debounced (one query per pause, not per key); Enter, a choice
in a list and a removed field filter apply at once.
"""

from __future__ import annotations

from PySide6.QtCore import QDateTime, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from console.api.records import RecordQuery

TYPING_DEBOUNCE_MS = 150
STATUS_CHOICES = (("Active", "0"), ("Archived", "1"), ("All", "all"))
MAX_FIELD_FILTERS = 8
MAX_FILTER_TEXT = 500  # the server caps its parameters too; this keeps the bar sane


class FieldChip(QFrame):
    """One `field = value` filter, with a button that removes it."""

    removed = Signal(str)

    def __init__(self, name: str, value: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.value = value
        self.setObjectName("fieldChip")
        self.setStyleSheet(
            "#fieldChip { background: #eef0f4; border: 1px solid #d6d9e0; border-radius: 10px; }"
        )
        label = QLabel(f"{name} = {value}")
        label.setToolTip(f"data.{name} is exactly “{value}”")
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip(f"Remove the filter on {name}")
        close.clicked.connect(lambda: self.removed.emit(self.name))
        self.close_button = close
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 0, 2, 0)
        layout.setSpacing(2)
        layout.addWidget(label)
        layout.addWidget(close)


class RecordFilterBar(QWidget):
    """The widgets that make a RecordQuery, and a debounced `changed` signal."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(TYPING_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.changed)
        self._fields: dict[str, str] = {}
        self._chips: dict[str, FieldChip] = {}

        self.text_edit = self._line("Search text in the data", 3)
        self.guid_edit = self._line("GUID", 2)
        self.system_id_edit = self._line("System id", 2)
        self.since_box = QCheckBox("Chan&ged since")
        self.since_box.setToolTip("Only records changed at or after this time (version)")
        self.since_edit = QDateTimeEdit()
        self.since_edit.setAccessibleName("Changed since")
        self.since_edit.setCalendarPopup(True)
        self.since_edit.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
        self.since_edit.setDateTime(QDateTime.currentDateTime().addDays(-1))
        self.since_edit.setEnabled(False)
        self.since_box.toggled.connect(self._since_toggled)
        self.since_edit.dateTimeChanged.connect(
            lambda _dt: self._apply_now() if self.since_box.isChecked() else None
        )
        self.status_combo = QComboBox()
        self.status_combo.setAccessibleName("Record status")
        for title, value in STATUS_CHOICES:
            self.status_combo.addItem(title, value)
        self.status_combo.setToolTip("Active records, archived ones, or both")
        self.status_combo.currentIndexChanged.connect(lambda _i: self._apply_now())

        self.field_combo = QComboBox()
        self.field_combo.setAccessibleName("Field to filter on")
        self.field_combo.setEditable(True)
        self.field_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.field_combo.setMinimumContentsLength(10)
        self.field_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.field_combo.setToolTip("A top-level field of the records' data")
        line_edit = self.field_combo.lineEdit()
        if line_edit is not None:
            line_edit.setPlaceholderText("field")
        self.value_edit = QLineEdit()
        self.value_edit.setAccessibleName("Field value")
        self.value_edit.setPlaceholderText("value")
        self.value_edit.setMaxLength(MAX_FILTER_TEXT)
        self.value_edit.returnPressed.connect(self.add_field_filter)
        self.add_field_button = QPushButton("A&dd")
        self.add_field_button.setToolTip("Only records whose field is exactly this value")
        self.add_field_button.clicked.connect(self.add_field_filter)
        self.field_message = QLabel("")
        self.field_message.setStyleSheet("color: #8f1d12;")
        self.field_message.hide()

        row1 = QHBoxLayout()
        row1.setContentsMargins(0, 0, 0, 0)
        row1.addWidget(self.text_edit, 3)
        row1.addWidget(self.guid_edit, 2)
        row1.addWidget(self.system_id_edit, 2)
        row1.addWidget(self.since_box)
        row1.addWidget(self.since_edit)
        row1.addWidget(self.status_combo)
        self.chips_row = QHBoxLayout()
        self.chips_row.setContentsMargins(0, 0, 0, 0)
        row2 = QHBoxLayout()
        row2.setContentsMargins(0, 0, 0, 0)
        where = QLabel("Where")
        where.setStyleSheet("color: #5c5f66;")
        row2.addWidget(where)
        row2.addWidget(self.field_combo)
        row2.addWidget(QLabel("="))
        row2.addWidget(self.value_edit, 1)
        row2.addWidget(self.add_field_button)
        row2.addWidget(self.field_message)
        row2.addLayout(self.chips_row)
        row2.addStretch(2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(row1)
        layout.addLayout(row2)

    def _line(self, placeholder: str, stretch: int) -> QLineEdit:
        edit = QLineEdit()
        edit.setPlaceholderText(placeholder)
        edit.setAccessibleName(placeholder)
        edit.setClearButtonEnabled(True)
        edit.setMaxLength(MAX_FILTER_TEXT)
        edit.textEdited.connect(lambda _text: self._debounce.start())
        # The clear button and code change the text without "edited": apply at once.
        edit.textChanged.connect(lambda text: self._apply_now() if not text else None)
        edit.returnPressed.connect(self._apply_now)
        edit.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        return edit

    # -- state ---------------------------------------------------------------------

    def query(self, order: str) -> RecordQuery:
        """The query the widgets describe now, ordered by `order`."""
        version: int | None = None
        if self.since_box.isChecked():
            version = max(0, int(self.since_edit.dateTime().toSecsSinceEpoch()))
        return RecordQuery(
            q=self.text_edit.text().strip(),
            guid=self.guid_edit.text().strip(),
            system_id=self.system_id_edit.text().strip(),
            version=version,
            deleted=str(self.status_combo.currentData()),
            order=order,
            fields=tuple(sorted(self._fields.items())),
        )

    @property
    def pending(self) -> bool:
        """Whether typed text waits for its debounce to apply."""
        return self._debounce.isActive()

    def set_field_names(self, names: list[str]) -> None:
        """Offer the feed's data keys in the field picker (typing another stays possible)."""
        typed = self.field_combo.currentText()
        self.field_combo.blockSignals(True)
        self.field_combo.clear()
        self.field_combo.addItems(names)
        self.field_combo.setEditText(typed)
        self.field_combo.blockSignals(False)

    def field_filters(self) -> dict[str, str]:
        """The `field = value` filters in force."""
        return dict(self._fields)

    def add_field_filter(self) -> None:
        """Add (or replace) the filter on the picked field."""
        name = self.field_combo.currentText().strip()
        value = self.value_edit.text()
        problem = ""
        if not name:
            problem = "Pick a field first."
        elif name not in self._fields and len(self._fields) >= MAX_FIELD_FILTERS:
            problem = f"At most {MAX_FIELD_FILTERS} field filters."
        self.field_message.setText(problem)
        self.field_message.setVisible(bool(problem))
        if problem:
            return
        self.set_field_filter(name, value)
        self.value_edit.clear()

    def set_field_filter(self, name: str, value: str | None) -> None:
        """Filter `name` to exactly `value` (None removes it); applies at once."""
        chip = self._chips.pop(name, None)
        if chip is not None:
            chip.deleteLater()
        if value is None:
            self._fields.pop(name, None)
        else:
            self._fields[name] = value
            chip = FieldChip(name, value)
            chip.removed.connect(lambda field: self.set_field_filter(field, None))
            self._chips[name] = chip
            self.chips_row.addWidget(chip)
        self._apply_now()

    def reset(self) -> None:
        """Every filter off (another feed was chosen); says nothing (the caller reloads)."""
        self._debounce.stop()
        widgets = (
            self.text_edit,
            self.guid_edit,
            self.system_id_edit,
            self.since_box,
            self.since_edit,
            self.status_combo,
        )
        blocked = [w.blockSignals(True) for w in widgets]
        try:
            for edit in (self.text_edit, self.guid_edit, self.system_id_edit):
                edit.clear()
            self.since_box.setChecked(False)
            self.since_edit.setEnabled(False)
            self.status_combo.setCurrentIndex(0)
        finally:
            for widget, was in zip(widgets, blocked, strict=True):
                widget.blockSignals(was)
        for chip in self._chips.values():
            chip.deleteLater()
        self._chips.clear()
        self._fields.clear()
        self.field_message.hide()

    def _since_toggled(self, on: bool) -> None:
        self.since_edit.setEnabled(on)
        self._apply_now()

    def _apply_now(self) -> None:
        self._debounce.stop()
        self.changed.emit()

    def focus_text(self) -> None:
        """Put the cursor in the text filter (Ctrl+F)."""
        self.text_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.text_edit.selectAll()
