"""Checks of accessible names, shared by the accessibility tests: what a screen reader
would announce for each interactive widget, read through QAccessible as it reads it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollBar,
    QTabBar,
    QTextEdit,
    QWidget,
)

INTERACTIVE = (
    QAbstractButton,
    QLineEdit,
    QTextEdit,
    QPlainTextEdit,
    QComboBox,
    QAbstractSpinBox,
    QAbstractItemView,
    QAbstractSlider,
)
# Parts these draw for themselves (a combo's list, a spin box's field, a line edit's clear
# button, a table's corner button, a tab bar's scroll arrows): named by their owner.
COMPOSITES = (QComboBox, QAbstractSpinBox, QLineEdit, QAbstractItemView, QTabBar)


def effective_name(widget: QWidget) -> str:
    """The name assistive technology reads for `widget` (its text, buddy or explicit name)."""
    interface = QAccessible.queryAccessibleInterface(widget)
    if interface is None:
        return ""
    return interface.text(QAccessible.Text.Name).strip()


def _inside_composite(widget: QWidget) -> bool:
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, COMPOSITES):
            return True
        parent = parent.parentWidget()
    return False


def is_interactive(widget: QWidget) -> bool:
    """A control the user operates: a known kind, or any custom widget that takes Tab."""
    if isinstance(widget, QScrollBar | QHeaderView):
        return False
    if isinstance(widget, QLabel):
        # A selectable label takes the focus only to copy from it; it reads its own text.
        return False
    if isinstance(widget, INTERACTIVE):
        return True
    return bool(widget.focusPolicy() & Qt.FocusPolicy.TabFocus) and not isinstance(
        widget, QDialogButtonBox
    )


def describe(widget: QWidget) -> str:
    """`widget` as a failure message names it: its class, object name and parents'."""
    path = []
    current: QWidget | None = widget
    while current is not None and len(path) < 4:
        path.append(f"{type(current).__name__}({current.objectName()})")
        current = current.parentWidget()
    owner = widget.parentWidget()
    while owner is not None:
        attribute = next((k for k, v in vars(owner).items() if v is widget), None)
        if attribute is not None:
            path.insert(0, f"{type(owner).__name__}.{attribute}")
            break
        owner = owner.parentWidget()
    text = widget.text() if isinstance(widget, QAbstractButton | QLineEdit) else ""
    return " < ".join(path) + (f" text={text!r}" if text else "")


def nameless(root: QWidget) -> list[str]:
    """Every interactive widget in `root` (hidden ones too) that has no accessible name."""
    found = []
    for widget in [root, *root.findChildren(QWidget)]:
        if not is_interactive(widget) or _inside_composite(widget):
            continue
        name = effective_name(widget)
        if not name:
            found.append(describe(widget))
        elif (
            isinstance(widget, QComboBox)
            and not widget.accessibleName()
            and name == widget.currentText().strip()
        ):
            # Without a buddy or a name, a combo reads out only its value ("All statuses").
            found.append(f"{describe(widget)} reads only its value {name!r}")
    return found
