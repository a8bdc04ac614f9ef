"""The form every export dialog shares: format, file, progress, errors, and its buttons.

The Records tab's export (pages fetched from the server) and the Ingest Logs tab's (rows
of the log buffer) differ in what they write and how they report progress; what the user
chooses and sees around that is this one form, so both dialogs behave alike.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.ui.records.io_files import FORMATS, FileFormat
from console.ui.tasks import TaskRunner
from console.ui.widgets.confirm import Confirmation
from console.ui.widgets.error_banner import error_text

FORMAT_TITLES = {"csv": "CSV", "ndjson": "NDJSON (one JSON object per line)"}


def _same_file_name(path: Path) -> str:
    """`path` as compared for "already agreed to replace": absolute, user expanded."""
    return os.path.abspath(path.expanduser())


class ExportDialogBase(QDialog):
    """Choose format and file; the subclass implements `start_export` and connects
    `cancel_button` and `finished` to how it cancels and stops.

    Export (or Enter in the file field) goes through `export_clicked`: a file that already
    exists is replaced only once the user said so, either in the file chooser (which asks
    itself) or in this dialog's own question for a typed path; never asked twice.
    """

    export_finished = Signal(str, int)  # path, rows written
    export_stopped = Signal(object)  # the error, or None when cancelled

    def __init__(
        self,
        title: str,
        what: str,
        suggested_stem: str,
        parent: QWidget | None = None,
        notes: tuple[QWidget, ...] = (),
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(560)
        self.suggested_stem = suggested_stem
        self.runner = TaskRunner(self)
        self.runner.failed.connect(self._task_failed)
        self.file_dialog: QFileDialog | None = None
        self.replace_question: Confirmation | None = None
        # The one existing file the user agreed to replace (in the chooser or our question).
        self._replace_agreed: str | None = None

        self.what_label = QLabel(what)
        self.what_label.setWordWrap(True)
        self.format_combo = QComboBox()
        self.format_combo.setAccessibleName("Export format")
        for fmt in FORMATS:
            self.format_combo.addItem(FORMAT_TITLES[fmt], fmt)
        self.format_combo.currentIndexChanged.connect(self._format_changed)
        self.file_edit = QLineEdit()
        self.file_edit.setAccessibleName("Export file")
        self.file_edit.setPlaceholderText("Where to write the file")
        self.file_edit.textChanged.connect(self._sync_buttons)
        self.browse_button = QPushButton("&Choose…")
        self.browse_button.clicked.connect(self.choose_file)
        file_row = QHBoxLayout()
        file_row.addWidget(self.file_edit, 1)
        file_row.addWidget(self.browse_button)
        form = QFormLayout()
        form.addRow("Format", self.format_combo)
        form.addRow("File", file_row)

        self.progress_bar = QProgressBar()
        self.progress_bar.hide()
        self.progress_label = QLabel()
        self.progress_label.setWordWrap(True)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #a61b0f;")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()

        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        self.cancel_button = QPushButton("Cancel export")
        self.cancel_button.hide()
        self.export_button = QPushButton("&Export")
        self.export_button.setObjectName("primaryButton")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.export_clicked)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.what_label)
        layout.addLayout(form)
        for note in notes:
            layout.addWidget(note)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.error_label)
        layout.addStretch(1)
        layout.addLayout(buttons)
        self._sync_buttons()

    # -- the form ----------------------------------------------------------------------------

    @property
    def file_format(self) -> FileFormat:
        """The chosen format."""
        fmt: FileFormat = self.format_combo.currentData()
        return fmt

    def _format_changed(self) -> None:
        text = self.file_edit.text().strip()
        if text:
            self.file_edit.setText(str(Path(text).with_suffix(f".{self.file_format}")))

    def _sync_buttons(self) -> None:
        busy = self.runner.running > 0
        self.export_button.setEnabled(bool(self.file_edit.text().strip()) and not busy)

    def choose_file(self) -> QFileDialog:
        """Ask where to write the export (Qt's own dialog, the same everywhere)."""
        suggested = f"{self.suggested_stem}.{self.file_format}"
        chooser = QFileDialog(self, "Export to", suggested)
        chooser.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        chooser.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        chooser.selectFile(suggested)
        chooser.fileSelected.connect(self._file_chosen)
        chooser.finished.connect(chooser.deleteLater)
        self.file_dialog = chooser
        chooser.open()
        return chooser

    def _file_chosen(self, path: str) -> None:
        # Qt's save dialog has asked already whether to replace an existing file.
        self._replace_agreed = _same_file_name(Path(path))
        self.file_edit.setText(path)

    def export_clicked(self) -> None:
        """Export to the file named; ask first when a typed path names an existing file."""
        text = self.file_edit.text().strip()
        if not text or self.runner.running:
            return
        target = Path(text).expanduser()
        # A folder is not replaced: the export says it cannot write there.
        if target.is_file() and _same_file_name(target) != self._replace_agreed:
            self._ask_to_replace(target)
            return
        self.start_export()

    def _ask_to_replace(self, target: Path) -> None:
        asking = self.replace_question
        if asking is not None and shiboken6.isValid(asking) and asking.isVisible():
            return
        question = Confirmation(
            self,
            "Replace file?",
            f"“{target.name}” already exists.",
            f"{target}\n\nThe export replaces this file when it is complete; until "
            "then the file stays as it is.",
            "&Replace",
        )
        question.setObjectName("replaceExportFile")
        agreed = _same_file_name(target)

        def replace() -> None:
            self._replace_agreed = agreed
            if shiboken6.isValid(self) and self.file_edit.text().strip():
                self.export_clicked()

        self.replace_question = question
        question.ask(replace)

    def start_export(self) -> Any:
        """Write the file named in the form (each dialog writes its own way)."""
        raise NotImplementedError

    def _busy(self) -> None:
        """The export started: Cancel instead of the choices."""
        self.error_label.hide()
        self.progress_bar.show()
        self.progress_label.setText("Starting…")
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)
        for widget in (self.export_button, self.format_combo, self.file_edit, self.browse_button):
            widget.setEnabled(False)

    def _stopped(self, text: str, error: BaseException | None) -> None:
        self.progress_bar.hide()
        self.progress_label.setText("")
        self.error_label.setText(text)
        self.error_label.show()
        self.export_stopped.emit(error)

    def _idle(self) -> None:
        if not shiboken6.isValid(self):
            return
        self.cancel_button.hide()
        for widget in (self.format_combo, self.file_edit, self.browse_button):
            widget.setEnabled(True)
        self._sync_buttons()

    def _task_failed(self, error: BaseException) -> None:
        self._stopped(error_text(error), error)
