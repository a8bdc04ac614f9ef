"""The keyboard shortcuts sheet (F1), written from the action registry so it never drifts:
every action with keys, grouped by category, with where its keys work when that is not
the whole window."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.ui.actions import WINDOW, ConsoleAction
from console.ui.palette import shortcut_text

KEYS_ROLE = Qt.ItemDataRole.UserRole
GENERAL_NOTE = (
    "Alt with a button's underlined letter presses it; Tab and Shift+Tab move between "
    "controls. Ctrl+Shift+P finds any action by name, with or without keys."
)


class ShortcutsSheet(QDialog):
    """Every key the console answers to, by category."""

    def __init__(self, actions: Iterable[ConsoleAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.keyed = [a for a in actions if a.shortcuts]
        note = QLabel(GENERAL_NOTE)
        note.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setAccessibleName("Keyboard shortcuts")
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Action", "Keys"])
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(False)
        groups: dict[str, QTreeWidgetItem] = {}
        for action in self.keyed:
            group = groups.get(action.category)
            if group is None:
                group = QTreeWidgetItem([action.category, ""])
                font = group.font(0)
                font.setBold(True)
                group.setFont(0, font)
                groups[action.category] = group
                self.tree.addTopLevelItem(group)
            title = action.title
            if action.scope != WINDOW:
                title += f" (in {action.scope})"
            item = QTreeWidgetItem([title, shortcut_text(action)])
            item.setToolTip(0, action.description)
            item.setData(1, KEYS_ROLE, list(action.shortcuts))
            group.addChild(item)
        self._groups = groups  # by category, in the order shown
        self.tree.expandAll()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(self.tree, 1)
        layout.addWidget(buttons)
        self.resize(620, 560)

    def listed_keys(self) -> set[str]:
        """Every key sequence on the sheet, as portable text."""
        return {
            QKeySequence(key).toString(QKeySequence.SequenceFormat.PortableText)
            for group in self._groups.values()
            for j in range(group.childCount())
            if (item := group.child(j)) is not None
            for key in item.data(1, KEYS_ROLE) or ()
        }

    def categories(self) -> list[str]:
        """The groups, in the order shown."""
        return list(self._groups)
