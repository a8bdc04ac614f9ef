"""The connected profile's environment across the window, and its marker in the picker.

Production is a red band with the profile's name, its lock state ("read-only" or "writes
unlocked, 12:34 left") and the button that unlocks or locks writes. The other environments
get a thin, quiet line in their own colour (it costs the tabs 10 px, so the window still
fits 1024x640), so a glance tells staging from development; its tooltip and accessible
name say the environment in words, as the picker's tooltip does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from console.ui.protection import WriteGate


@dataclass(frozen=True)
class EnvironmentStyle:
    """How one environment looks: band background, text colour, marker colour."""

    title: str
    background: str
    text: str
    marker: str


QUIET_LINE_PX = 4  # the band of a non-production environment: a line in its colour
ENVIRONMENT_STYLES = {
    "production": EnvironmentStyle("Production", "#b3261e", "#ffffff", "#d93025"),
    "staging": EnvironmentStyle("Staging", "#fdf1dc", "#7a4a00", "#e0a030"),
    "development": EnvironmentStyle("Development", "#e6effc", "#1c4587", "#4a86e8"),
    "sandbox": EnvironmentStyle("Sandbox", "#e6f4ea", "#1e5631", "#34a853"),
}


def environment_style(environment: str | None) -> EnvironmentStyle | None:
    """The look of `environment` (None: not connected, or unknown)."""
    return ENVIRONMENT_STYLES.get(environment or "")


def environment_icon(environment: str, size: int = 12) -> QIcon:
    """A round marker in the environment's colour, for the connection picker's items."""
    style = environment_style(environment)
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    if style is not None:
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor(style.marker).darker(130))
        painter.setBrush(QColor(style.marker))
        painter.drawEllipse(1, 1, size - 2, size - 2)
        painter.end()
    return QIcon(pixmap)


def picker_text(name: str, environment: str) -> str:
    """A profile's text in the picker: production says so in words, beside its red marker."""
    return f"{name}  [production]" if environment == "production" else name


def format_time_left(seconds: float) -> str:
    """12:34 (minutes and seconds, rounded up: the last second reads 0:01)."""
    whole = max(0, math.ceil(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


class EnvironmentBand(QFrame):
    """Under the connection row: the environment of the connected profile, and on
    production the lock state with "Unlock writes" / "Lock writes"."""

    def __init__(self, gate: WriteGate, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("environmentBand")
        self.gate = gate
        self.label = QLabel()
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # a profile name is never markup
        self.label.setWordWrap(True)
        self.unlock_button = QPushButton("Unlock writes")
        self.unlock_button.setToolTip(
            "Allow changes to this production profile for 15 minutes; they lock again by "
            "themselves."
        )
        self.unlock_button.clicked.connect(gate.unlock)
        self.lock_button = QPushButton("Lock writes")
        self.lock_button.setToolTip("Make this production profile read-only again now.")
        self.lock_button.clicked.connect(gate.lock)
        layout = QHBoxLayout(self)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.unlock_button)
        layout.addWidget(self.lock_button)
        self._layout = layout
        gate.changed.connect(self.update_state)
        self.update_state()

    def update_state(self) -> None:
        """Show the gate's environment and lock state (each second while unlocked)."""
        gate = self.gate
        style = environment_style(gate.environment)
        if style is None:
            self.hide()
            return
        name = gate.profile_name or ""
        self.setMinimumHeight(0)
        self.setMaximumHeight(16777215)  # QWIDGETSIZE_MAX
        if gate.is_protected:
            left = gate.remaining_seconds()
            if left is None:
                state = "read-only: writes are refused until you unlock them"
            else:
                state = f"writes unlocked, {format_time_left(left)} left"
            self.label.setText(f"PRODUCTION · {name} · {state}")
            self.label.show()
            self.unlock_button.setVisible(left is None)
            self.lock_button.setVisible(left is not None)
            self._layout.setContentsMargins(10, 3, 10, 3)
            self.setToolTip("")
            self.setStyleSheet(
                f"#environmentBand {{ background: {style.background};"
                f" border-left: 6px solid {style.marker}; border-radius: 4px; }}"
                f" #environmentBand QLabel {{ color: {style.text};"
                " font-weight: 700; font-size: 13px; }"
            )
        else:
            same = name.casefold() == style.title.casefold()  # "Sandbox · Sandbox" says less
            self.label.setText(style.title if same else f"{style.title} · {name}")
            self.label.hide()
            self.unlock_button.hide()
            self.lock_button.hide()
            self._layout.setContentsMargins(0, 0, 0, 0)
            self.setFixedHeight(QUIET_LINE_PX)
            self.setToolTip(self.label.text())
            self.setStyleSheet(
                f"#environmentBand {{ background: {style.marker}; border-radius: 2px; }}"
            )
        self.setAccessibleName(self.label.text())
        self.show()
