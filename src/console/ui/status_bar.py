"""Status bar: connection state, last request latency, rate-limit headroom.

Two limits answer in the same `X-RateLimit-*` headers: the per-IP one (every route) and
the per-key burst of the ingest routes (20 a second by default), reported instead when it
is the narrower. A bulk upload pacing itself on the burst is normal: its headroom shows
apart, neutral ("Ingest pacing 2/20"), and only the per-IP headroom turns red when low.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QStatusBar, QWidget

from console.api.transport import RateLimitState, RequestOutcome, RetryWait
from console.ui.formatting import format_duration
from console.ui.widgets.elided_label import ElidedLabel

STATE_COLOURS = {"connected": "#11643a", "connecting": "#1d4f9c", "offline": "#8f1d12"}
# `/api/ingest` and the intents' `/ingest/{feed}/...`: the routes with a per-key burst.
INGEST_ROUTE = re.compile(r"(?:^|/)ingest(?:[/?]|$)")
PACING_SHOWN_S = 2.0  # past its window's reset, the burst's headroom is stale


@dataclass(frozen=True)
class Headroom:
    """One limit's figures as a response reported them."""

    limit: int
    remaining: int
    reset_at: float | None

    @classmethod
    def of(cls, state: RateLimitState) -> Headroom | None:
        """The figures of `state` (None when the server gave none)."""
        if state.limit is None or state.remaining is None:
            return None
        return cls(state.limit, state.remaining, state.reset_at)


class ConsoleStatusBar(QStatusBar):
    """Shows what the connection is doing, refreshed after every request."""

    expiring_clicked = Signal()  # the "N keys expire within 7 days" link

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state_dot = QLabel("")
        # Elided: a long profile name or URL must not widen the window.
        self.connection_label = ElidedLabel("Not connected")
        self.latency_label = QLabel("")
        self.rate_label = QLabel("")
        self.pacing_label = QLabel("")
        self.pacing_label.setStyleSheet("color: #5c5f66;")
        self.pacing_label.setToolTip(
            "Requests left in this second under the ingest routes' per-key burst limit: "
            "bulk uploads pace themselves on it, which is normal"
        )
        self.addWidget(self.state_dot)
        self.addWidget(self.connection_label, 1)
        # Keys flagged in the Keys tab; a click selects the first of them there.
        self.expiring_button = QPushButton("")
        self.expiring_button.setFlat(True)
        self.expiring_button.setStyleSheet("color: #7a5200; font-weight: 600;")
        self.expiring_button.setAccessibleName("Keys expiring within 7 days")
        self.expiring_button.clicked.connect(self.expiring_clicked)
        self.expiring_button.hide()
        self.addPermanentWidget(self.expiring_button)
        self.addPermanentWidget(self.latency_label)
        self.addPermanentWidget(self.pacing_label)
        self.addPermanentWidget(self.rate_label)
        self._rate: Headroom | None = None  # the per-IP limit's
        self._pacing: Headroom | None = None  # the ingest burst's, when it was reported
        self._waiting_until: float | None = None
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._render_rate)

    def set_connection_state(self, state: str, text: str) -> None:
        """`state` is connected, connecting or offline; `text` says where."""
        colour = STATE_COLOURS.get(state, "#3b3c40")
        self.state_dot.setText(f"<span style='color:{colour}'>●</span>")
        self.connection_label.setText(text)

    def set_expiring_keys(self, count: int) -> None:
        """Say how many keys expire within 7 days (hidden when none)."""
        self.expiring_button.setText(
            f"{count} key{'s' if count != 1 else ''} expire{'' if count != 1 else 's'} "
            "within 7 days"
        )
        self.expiring_button.setToolTip("Show them in the Keys tab (Renew keeps access)")
        self.expiring_button.setVisible(count > 0)

    def set_disconnected(self) -> None:
        """No connection: no state colour, no figures."""
        self.state_dot.setText("")
        self.connection_label.setText("Not connected")
        self.clear()

    def request_finished(self, outcome: RequestOutcome) -> None:
        """Update latency and headroom after an exchange."""
        self._waiting_until = None
        if outcome.status:
            self.latency_label.setText(f"Last request {outcome.latency_ms:.0f} ms")
        reported = Headroom.of(outcome.rate_limit)
        if reported is not None:
            burst = INGEST_ROUTE.search(outcome.path.split("?")[0]) is not None and (
                self._rate is None or reported.limit != self._rate.limit
            )
            if burst:
                self._pacing = reported
            else:
                self._rate = reported
        self._render_rate()

    def retry_waiting(self, wait: RetryWait) -> None:
        """The server asked us to slow down: count the wait down."""
        self._waiting_until = time.time() + wait.seconds
        self._render_rate()

    def clear(self) -> None:
        """Forget the last connection's figures."""
        self.latency_label.setText("")
        self.rate_label.setText("")
        self.pacing_label.setText("")
        self._rate = None
        self._pacing = None
        self._waiting_until = None
        self._tick.stop()

    def _render_rate(self) -> None:
        now = time.time()
        pacing = self._pacing
        if pacing is not None and (pacing.reset_at or 0) + PACING_SHOWN_S > now:
            self.pacing_label.setText(f"Ingest pacing {pacing.remaining}/{pacing.limit}")
        else:
            self.pacing_label.setText("")
            self._pacing = None
        if self._waiting_until is not None and self._waiting_until > now:
            self.rate_label.setText(
                f"Rate limited: retrying in {format_duration(self._waiting_until - now)}"
            )
            self.rate_label.setStyleSheet("color: #7a5200; font-weight: 600;")
            self._tick.start()
            return
        rate = self._rate
        if rate is None:
            self.rate_label.setText("")
            if self._pacing is None:
                self._tick.stop()
            else:
                self._tick.start()  # the pacing figure goes once its second is over
            return
        text = f"Rate limit {rate.remaining}/{rate.limit}"
        if rate.reset_at is not None and rate.reset_at > now:
            text += f", resets in {format_duration(rate.reset_at - now)}"
            self._tick.start()
        elif self._pacing is None:
            self._tick.stop()
        else:
            self._tick.start()
        low = rate.remaining <= max(1, rate.limit // 10)
        self.rate_label.setStyleSheet("color: #8f1d12; font-weight: 600;" if low else "")
        self.rate_label.setText(text)
