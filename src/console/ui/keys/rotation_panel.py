"""The rotation panel under the Keys table: the selected key's last use, whether an old
key in its grace period is still used, Revoke now and Renew, and the key's history.

Everything shown derives from one current key id: each load carries the generation it
was started for, and an answer for an earlier selection is dropped. While an old key is
in its grace period the panel follows the connector logs' live stream filtered to that key
(docs/console.md, "Key rotation"), so a use shows within the stream's flush (~0.1 s);
admin keys, logged only on some routes, also re-read their `last_used_at` every few
seconds. The panel's tasks are its own (the stream never ends by itself), cancelled when
the selection changes, the connection closes or the window shuts down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.api.errors import ApiError
from console.api.keys import UNLOGGED_SLACK_SECONDS, ApiKey, KeyEvent, KeyUse
from console.ui.formatting import format_time_ms, format_timestamp
from console.ui.keys.rotation import (
    expires_soon,
    grace_successor,
    grace_text,
    is_live,
    minutes_text,
    usage_verdict,
)
from console.ui.session import ConsoleSession
from console.ui.tasks import TaskRunner
from console.ui.widgets.error_banner import error_text

# How often an admin key in grace re-reads its last_used_at (uses the logs do not record).
ADMIN_POLL_SECONDS = 5.0
# A stream the server does not offer: the logged use is polled this often instead.
FALLBACK_POLL_SECONDS = 2.0
ADMIN_NOTE = (
    "Admin keys appear in the connector logs only on record writes, imports and ingest "
    "routes; a use elsewhere shows as its time only (the key's last used time)."
)
EVENT_TITLES = {
    "created": "Created",
    "rotated": "Rotated",
    "revoked": "Revoked",
    "first_used": "First used",
}
SAFE_STYLE = "color: #11643a; font-weight: 600;"
USED_STYLE = "color: #7a5200; font-weight: 600;"


def use_text(use: KeyUse | None) -> str:
    """The panel's "Last use" line."""
    if use is None:
        return "Last use: none recorded"
    if not use.from_logs:
        return f"Last use: {format_timestamp(use.at)} (time only: not in the connector logs)"
    parts = [f"Last use: {format_time_ms(use.at)}"]
    if use.client_ip:
        parts.append(f"from {use.client_ip}")
    if use.auth_via:
        parts.append(f"key in the {use.auth_via}")
    if use.feed:
        parts.append(f"feed {use.feed}")
    if use.route:
        parts.append(use.route)
    return ", ".join(parts)


def event_row(event: KeyEvent) -> list[str]:
    """When, what, by which key and from where, as the History list shows an event."""
    what = EVENT_TITLES.get(event.event, event.event)
    if event.event == "rotated" and event.related_key_id:
        what += f" → {event.related_key_id}"
    elif event.event == "created" and event.related_key_id:
        what += f" (rotated from {event.related_key_id})"
    where = ", ".join(
        part
        for part in (
            event.client_ip,
            f"key in the {event.auth_via}" if event.auth_via else None,
            f"feed {event.feed}" if event.event == "first_used" and event.feed else None,
            event.route,
        )
        if part
    )
    return [format_time_ms(event.at), what, event.by_shown or "—", where or "—"]


class RotationPanel(QFrame):
    """Rotation and expiry of the selected key, with its audit trail."""

    revoke_requested = Signal(object)  # ApiKey: "Revoke now" was clicked
    renew_requested = Signal(object)  # ApiKey
    use_shown = Signal(object)  # KeyUse | None, after the panel shows it (tests wait on it)
    history_shown = Signal(int)  # number of events listed
    grace_ticked = Signal()  # each second while a key in grace is shown (its row counts down)

    def __init__(self, session: ConsoleSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.runner = TaskRunner(self)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title_label = QLabel()
        self.title_label.setStyleSheet("font-weight: 600;")
        self.grace_label = QLabel()
        self.use_label = QLabel()
        self.use_label.setWordWrap(True)
        self.use_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.verdict_label = QLabel()
        self.note_label = QLabel(ADMIN_NOTE)
        self.note_label.setWordWrap(True)
        self.note_label.setStyleSheet("color: #5c5f66;")
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #8f1d12;")
        self.revoke_now_button = QPushButton("Revoke no&w")
        self.revoke_now_button.setAccessibleName("Revoke now")
        self.revoke_now_button.setAccessibleDescription(
            "Revoke the selected key at once, for a leaked key"
        )
        self.revoke_now_button.clicked.connect(self._revoke_clicked)
        self.renew_button = QPushButton("Re&new…")
        self.renew_button.setAccessibleName("Renew")
        self.renew_button.setAccessibleDescription(
            "Create a new key with the same name, kind, feed and expiry period"
        )
        self.renew_button.clicked.connect(self._renew_clicked)
        self.history = QTreeWidget()
        self.history.setAccessibleName("Key history")
        self.history.setHeaderLabels(["When", "Event", "By", "From"])
        self.history.setRootIsDecorated(False)
        self.history.setMaximumHeight(130)

        buttons = QHBoxLayout()
        buttons.addWidget(self.title_label, 1)
        buttons.addWidget(self.renew_button)
        buttons.addWidget(self.revoke_now_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(buttons)
        layout.addWidget(self.grace_label)
        layout.addWidget(self.use_label)
        layout.addWidget(self.verdict_label)
        layout.addWidget(self.note_label)
        layout.addWidget(self.error_label)
        history_title = QLabel("History")
        history_title.setBuddy(self.history)
        layout.addWidget(history_title)
        layout.addWidget(self.history)

        self.key: ApiKey | None = None
        self.successor: ApiKey | None = None
        self.use: KeyUse | None = None
        self._use_known = False  # the first load of the shown key's use has answered
        self.watching = False  # the live stream of the shown key's uses is open
        self._generation = 0
        self._clock: Callable[[], float] = time.time
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._render_times)
        session.protection.changed.connect(self._sync_buttons)
        self.hide()

    # -- what is shown -----------------------------------------------------------

    def show_key(self, key: ApiKey | None, keys: Sequence[ApiKey]) -> None:
        """Show `key` (None: nothing selected) among the listed `keys`."""
        now = self._clock()
        successor = grace_successor(key, keys, now) if key is not None else None
        same = (
            key is not None
            and self.key is not None
            and key.id == self.key.id
            and (successor is None) == (self.successor is None)
        )
        self.key, self.successor = key, successor
        if key is None:
            self._stop()
            self.hide()
            return
        self.title_label.setText(f"“{key.name}” ({key.masked})")
        self.note_label.setVisible(key.kind == "admin")
        self._render_times()
        self._sync_buttons()
        self.show()
        if same:
            return  # a refresh of the list: the loads and the live watch keep going
        self._stop()
        self.use = None
        self._use_known = False
        self.watching = False
        self.verdict_label.hide()
        self.use_label.setText("Last use: loading…")
        self.error_label.clear()
        self.history.clear()
        self._generation += 1
        generation = self._generation
        self._start(partial(self._load, key, generation), "load")
        if successor is not None:
            self._start(partial(self._watch, key, generation), "watch")
            if key.kind == "admin":
                self._start(partial(self._poll, key, generation, ADMIN_POLL_SECONDS), "poll")
        self._tick.start()

    def _current(self, key: ApiKey, generation: int) -> bool:
        return generation == self._generation and self.key is not None and self.key.id == key.id

    def _start(self, work: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        # The coroutine is made inside the task: one cancelled before it ran leaves none
        # behind un-awaited.
        self.runner.start(self._reported(work), name=f"rotation.{name}")

    async def _reported(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        try:
            await work()
        except ApiError as error:
            self.error_label.setText(error_text(error))

    def _stop(self) -> None:
        self._tick.stop()
        self.runner.cancel_all()

    async def shutdown(self) -> None:
        """Cancel the panel's loads and live watch (window closing)."""
        self._tick.stop()
        await self.runner.shutdown()

    # -- loads -------------------------------------------------------------------

    async def _load(self, key: ApiKey, generation: int) -> None:
        keys = self.session.keys
        use, events = await asyncio.gather(keys.last_use(key), keys.events(key.id))
        if not self._current(key, generation):
            return  # the selection moved on: never show another key's usage
        self._show_events(events)
        self._show_use(use)

    async def _watch(self, key: ApiKey, generation: int) -> None:
        def connected(is_open: bool) -> None:
            if not self._current(key, generation):
                return
            self.watching = is_open
            if is_open:
                # A use between the first load and this connection is in no stream event.
                self._start(partial(self._reload_use, key, generation), "reload")

        try:
            async for use in self.session.keys.watch_uses(key, on_connection=connected):
                if not self._current(key, generation):
                    return
                self._offer_use(use)
        except ApiError as error:
            if error.status not in (404, 405, 400):
                raise
            # No live stream here (or not with this filter): poll the logged use instead.
            await self._poll(key, generation, FALLBACK_POLL_SECONDS)

    async def _poll(self, key: ApiKey, generation: int, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            await self._reload_use(key, generation)

    async def _reload_use(self, key: ApiKey, generation: int) -> None:
        use = await self.session.keys.last_use(key)
        if self._current(key, generation) and use is not None:
            self._offer_use(use)

    def _offer_use(self, use: KeyUse) -> None:
        """Show `use` unless a later one is already shown.

        A key's `last_used_at` is stamped when the request arrives and its log entry is
        written a moment later, so one use can come as a logged use (time, IP, auth, feed,
        route) and as a time-only stamp, in either order. Within UNLOGGED_SLACK_SECONDS
        they are the same use, and the logged one, which says more, is kept.
        """
        shown = self.use
        if shown is None:
            self._show_use(use)
        elif use.from_logs == shown.from_logs:
            if use.at >= shown.at:
                self._show_use(use)
        elif use.from_logs:  # a logged use, a stamp shown
            if use.at >= shown.at - UNLOGGED_SLACK_SECONDS:
                self._show_use(use)
        elif use.at > shown.at + UNLOGGED_SLACK_SECONDS:  # a later use the logs do not record
            self._show_use(use)

    # -- rendering ---------------------------------------------------------------

    def _show_use(self, use: KeyUse | None) -> None:
        self.use = use
        self._use_known = True
        self.use_label.setText(use_text(use))
        self._render_times()
        self.use_shown.emit(use)

    def _show_events(self, events: list[KeyEvent]) -> None:
        self.history.clear()
        for event in events:
            item = QTreeWidgetItem(event_row(event))
            item.setData(0, Qt.ItemDataRole.UserRole, event.event)
            self.history.addTopLevelItem(item)
        for column in range(self.history.columnCount()):
            self.history.resizeColumnToContents(column)
        self.history_shown.emit(len(events))

    def _render_times(self) -> None:
        key, successor = self.key, self.successor
        if key is None:
            return
        now = self._clock()
        if successor is not None and is_live(key, now):
            self.grace_ticked.emit()
            self.grace_label.setText(
                f"Rotated {format_timestamp(successor.created_at)} to {successor.masked}: "
                f"{grace_text(key, now)}."
            )
            if self._use_known:
                still_used, text = usage_verdict(self.use, successor.created_at, now)
                self.verdict_label.setText(text)
                self.verdict_label.setStyleSheet(USED_STYLE if still_used else SAFE_STYLE)
                self.verdict_label.show()
        else:
            if expires_soon(key, now) and key.expires_at is not None:
                self.grace_label.setText(
                    f"Expires in {minutes_text(key.expires_at - now)} "
                    f"({format_timestamp(key.expires_at)}): renew it to keep access."
                )
            elif key.is_revoked:
                self.grace_label.setText(f"Revoked {format_timestamp(key.revoked_at)}.")
            else:
                self.grace_label.setText(
                    f"Expires {format_timestamp(key.expires_at, empty='never')}."
                )
            self.verdict_label.hide()

    def verdict(self) -> str:
        """The verdict line as shown ("" when the key is not in grace)."""
        return self.verdict_label.text() if self.verdict_label.isVisibleTo(self) else ""

    def _sync_buttons(self) -> None:
        key = self.key
        gate = self.session.protection
        allowed = gate.writes_allowed
        refusal = gate.refusal() or ""
        live = key is not None and is_live(key, self._clock())
        self.revoke_now_button.setEnabled(allowed and live)
        self.renew_button.setEnabled(allowed and key is not None)
        for button in (self.revoke_now_button, self.renew_button):
            button.setToolTip(refusal if not allowed else "")
        if allowed and key is not None and not live:
            self.revoke_now_button.setToolTip("This key no longer works: nothing to revoke.")

    def _revoke_clicked(self) -> None:
        if self.key is not None and self.session.protection.writes_allowed:
            self.revoke_requested.emit(self.key)

    def _renew_clicked(self) -> None:
        if self.key is not None and self.session.protection.writes_allowed:
            self.renew_requested.emit(self.key)
