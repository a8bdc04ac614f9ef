"""Write protection of the connected profile: production opens read-only.

One `WriteGate` per window (`ConsoleSession.protection`). Every write button and action asks
it whether writes are allowed now, and shows `refusal()` as its tooltip when they are not:
the console refuses, it does not hide. The server stays authoritative either way.

A production profile starts locked. `unlock()` allows writes for UNLOCK_SECONDS (15 min),
`lock()` ends that at once. The clock is injected so tests can move time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QAbstractButton

from console.config.profiles import ConnectionProfile

UNLOCK_SECONDS = 15 * 60
PROTECTED_ENVIRONMENTS = frozenset({"production"})


class WriteGate(QObject):
    """Whether the connected profile may be written now, and for how long."""

    changed = Signal()  # environment, lock state or (each second while unlocked) time left
    # Only when whether (or why) writes are refused changes: the write buttons follow this,
    # not the countdown's tick.
    writes_changed = Signal()
    refused = Signal(str)  # a write was tried while refused: what to tell the user

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._clock = clock
        self.profile_name: str | None = None
        self.environment: str | None = None  # None: not connected
        self._unlocked_until: float | None = None
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self.check_expiry)
        self._last_refusal: str | None = None

    def set_clock(self, clock: Callable[[], float]) -> None:
        """Read time from `clock` from now on (tests move it instead of sleeping)."""
        self._clock = clock

    # -- state -------------------------------------------------------------------

    def set_profile(self, profile: ConnectionProfile | None) -> None:
        """The connected profile changed: a production one starts locked."""
        self.profile_name = profile.name if profile is not None else None
        self.environment = profile.environment if profile is not None else None
        self._unlocked_until = None
        self._tick.stop()
        self._emit()

    @property
    def is_protected(self) -> bool:
        """Whether the connected profile needs an unlock before writes (production)."""
        return self.environment in PROTECTED_ENVIRONMENTS

    @property
    def writes_allowed(self) -> bool:
        """Whether write actions may run now."""
        if not self.is_protected:
            return True
        return self.remaining_seconds() is not None

    def remaining_seconds(self) -> float | None:
        """Seconds left of an unlock; None when locked (or nothing to unlock)."""
        if self._unlocked_until is None:
            return None
        left = self._unlocked_until - self._clock()
        return left if left > 0 else None

    def refusal(self) -> str | None:
        """Why writes are refused now (a tooltip), or None when they are allowed."""
        if self.writes_allowed:
            return None
        return (
            f"{self.profile_name} is a production profile and opens read-only. "
            "Use “Unlock writes” (15 minutes) to change it."
        )

    # -- changes -----------------------------------------------------------------

    def unlock(self) -> None:
        """Allow writes on a protected profile for UNLOCK_SECONDS from now."""
        if not self.is_protected:
            return
        self._unlocked_until = self._clock() + UNLOCK_SECONDS
        self._tick.start()
        self._emit()

    def lock(self) -> None:
        """End an unlock at once."""
        if self._unlocked_until is None:
            return
        self._unlocked_until = None
        self._tick.stop()
        self._emit()

    def check_expiry(self) -> None:
        """Relock when the unlock has run out; else report the time left (each second)."""
        if self._unlocked_until is not None and self.remaining_seconds() is None:
            self._unlocked_until = None
            self._tick.stop()
        self._emit()

    def permit(self, what: str = "") -> bool:
        """Whether a write may run now; if not, say why (`refused`) and return False.

        Every write path calls this, not only its button: a shortcut, a context menu or
        code calling the method is refused the same way and sends nothing.
        """
        reason = self.refusal()
        if reason is None:
            return True
        self.refused.emit(f"{what} refused: {reason}" if what else reason)
        return False

    def _emit(self) -> None:
        self.changed.emit()
        refusal = self.refusal()
        if refusal != self._last_refusal:
            self._last_refusal = refusal
            self.writes_changed.emit()


def gate_button(
    gate: WriteGate, button: QAbstractButton | QAction, enabled: bool, tooltip: str = ""
) -> None:
    """Enable a write control by its own rules and the gate's; refused, its tooltip says why.

    The control stays visible either way: the console refuses, it does not hide.
    """
    refusal = gate.refusal()
    button.setEnabled(enabled and refusal is None)
    button.setToolTip(refusal if refusal is not None else tooltip)
