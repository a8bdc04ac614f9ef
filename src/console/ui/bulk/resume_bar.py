"""The window's offer of interrupted bulk uploads, and the glue that opens the dialog.

When a profile connects (`MainWindow.connection_ready`), the unfinished uploads to that
server are read from the manifest directory (off the UI thread: a file whose size or time
changed is hashed to tell whether its content did) and offered in a bar above the tabs:
file, feed and how far, with Resume and Discard. A file that changed since is said so and
not resumed (its new content would be a new upload with new keys: "Upload anew…" opens
the dialog on it); a file that is gone can only be discarded. The bar is not modal: the
window works as usual while it shows.

A server is named by `upload_server_id`: the sandbox by its data dir (its port changes at
every start), any other by its base URL, as the command line names it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from console.api.errors import ApiError
from console.api.transport import ApiClient
from console.api.upload_manifest import ManifestStore, PendingUpload, default_manifest_dir
from console.config.profiles import ConnectionProfile
from console.ui.formatting import format_relative
from console.ui.protection import WriteGate, gate_button
from console.ui.records.io_files import format_bytes, format_count, in_file_thread
from console.ui.session import ConsoleSession
from console.ui.tasks import TaskRunner

MAX_OFFERS = 3  # uploads listed in the bar; the rest are counted
OFFER_TASK = "bulk.offers"

log = logging.getLogger(__name__)


def upload_server_id(profile: ConnectionProfile, client: ApiClient) -> str:
    """The server's name in upload manifests: `sandbox:` + the data dir for the embedded
    sandbox (whose port changes at every start), else the base URL."""
    if profile.sandbox_data_dir is not None:
        return f"sandbox:{Path(profile.sandbox_data_dir).resolve()}"
    return client.base_url


def how_far(upload: PendingUpload) -> str:
    """`45% sent (1.2 MB of 2.6 MB, 12,000 items)`."""
    if upload.size:
        share = min(100, int(100 * upload.bytes_done / upload.size))
        return (
            f"{share}% sent ({format_bytes(upload.bytes_done)} of {format_bytes(upload.size)}, "
            f"{format_count(upload.items_sent)} items)"
        )
    return f"{format_count(upload.items_sent)} items sent"


def read_offers(store: ManifestStore, server_id: str) -> list[tuple[PendingUpload, str]]:
    """The server's unfinished uploads with the state of each file (blocking: a thread)."""
    return [(upload, upload.file_state()) for upload in store.pending(server_id)]


class InterruptedUploadsBar(QFrame):
    """A band above the tabs: one line per interrupted upload, with its actions."""

    resume_requested = Signal(object)  # PendingUpload
    anew_requested = Signal(object)  # PendingUpload whose file changed
    discard_requested = Signal(object)  # PendingUpload

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("interruptedUploads")
        self.setStyleSheet(
            "#interruptedUploads { background: #eef4fd; border: 1px solid #b6cff5;"
            " border-radius: 6px; }"
        )
        self.offers: list[tuple[PendingUpload, str]] = []
        self.feed_names: dict[str, str] = {}  # feed id -> name, as the server lists them
        self.rows: list[QWidget] = []
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(10, 6, 10, 6)
        self.more_label = QLabel()
        # The connected profile's write gate: Resume and Upload anew are writes.
        self.gate: WriteGate | None = None
        self._write_buttons: list[QPushButton] = []
        self.hide()

    def set_gate(self, gate: WriteGate) -> None:
        """Gate Resume and Upload anew by `gate` (disabled with its reason while refused)."""
        self.gate = gate
        gate.writes_changed.connect(self._sync_write_buttons)
        self._sync_write_buttons()

    def _sync_write_buttons(self) -> None:
        if self.gate is None:
            return
        for button in self._write_buttons:
            gate_button(self.gate, button, True)

    def show_offers(
        self,
        offers: list[tuple[PendingUpload, str]],
        feed_names: Mapping[str, str] | None = None,
    ) -> None:
        """List `offers` ((upload, file state), newest first); hidden when there is none.
        `feed_names` (id -> name) replaces the names known; a feed not in it shows its id."""
        if feed_names is not None:
            self.feed_names = dict(feed_names)
        for row in self.rows:
            self._layout.removeWidget(row)
            row.deleteLater()
        self.rows = []
        self._write_buttons = []
        self._layout.removeWidget(self.more_label)
        self.offers = list(offers)
        for upload, state in self.offers[:MAX_OFFERS]:
            row = self._row(upload, state)
            self._layout.addWidget(row)
            self.rows.append(row)
        more = len(self.offers) - MAX_OFFERS
        if more > 0:
            self.more_label.setText(f"… and {more} more interrupted uploads to this server.")
            self._layout.addWidget(self.more_label)
        self.more_label.setVisible(more > 0)
        self._sync_write_buttons()
        self.setVisible(bool(self.offers))

    def _row(self, upload: PendingUpload, state: str) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        name, feed = upload.path.name, self.feed_names.get(upload.feed) or upload.feed
        stopped = format_relative(upload.updated_at) if upload.updated_at else "earlier"
        if state == "unchanged":
            text = (
                f"Interrupted upload of {name} to “{feed}”: {how_far(upload)}, stopped {stopped}."
            )
        elif state == "changed":
            text = (
                f"{name} changed since its upload to “{feed}” stopped at {how_far(upload)}: "
                "it is not resumed, as its new content would be a new upload."
            )
        else:
            text = (
                f"{name} is gone or unreadable: its upload to “{feed}”, stopped at "
                f"{how_far(upload)}, cannot go on."
            )
        label = QLabel(text)
        label.setTextFormat(Qt.TextFormat.PlainText)  # file and feed names, never markup
        label.setWordWrap(True)
        label.setToolTip(f"{upload.path}\nFeed id: {upload.feed}")
        layout.addWidget(label, 1)
        if state == "unchanged":
            resume = QPushButton("Resume")
            resume.clicked.connect(lambda: self.resume_requested.emit(upload))
            layout.addWidget(resume)
            self._write_buttons.append(resume)
        elif state == "changed":
            anew = QPushButton("Upload anew…")
            anew.clicked.connect(lambda: self.anew_requested.emit(upload))
            layout.addWidget(anew)
            self._write_buttons.append(anew)
        discard = QPushButton("Discard")
        discard.setToolTip("Forget this upload's progress (what the server took stays there)")
        discard.clicked.connect(lambda: self.discard_requested.emit(upload))
        layout.addWidget(discard)
        row.setProperty("manifest", str(upload.manifest_path))
        return row

    def buttons_of(self, upload: PendingUpload) -> dict[str, QPushButton]:
        """The action buttons of `upload`'s line, by their text (tests, keyboard help)."""
        for row in self.rows:
            if row.property("manifest") == str(upload.manifest_path):
                return {button.text(): button for button in row.findChildren(QPushButton)}
        return {}


class BulkIngest(QObject):
    """The window's bulk-ingest entry points: the dialog and the offer of interrupted
    uploads of the connected server."""

    offers_shown = Signal(int)  # the offers of the connected server have been read

    def __init__(
        self,
        session: ConsoleSession,
        runner: TaskRunner,
        window: QWidget,
        bar: InterruptedUploadsBar,
        manifest_dir: Path | None = None,
    ) -> None:
        super().__init__(window)
        self.session = session
        self.runner = runner
        self.window = window
        self.bar = bar
        self.store = ManifestStore(manifest_dir or default_manifest_dir())
        self.dialog: Any = None  # the BulkIngestDialog open or last opened
        # The feed and file last chosen, by server, for this session: the dialog opens on
        # them again (walking the build, each opening started from nothing).
        self.last_choice: dict[str, tuple[str | None, Path | None]] = {}
        bar.set_gate(session.protection)
        bar.resume_requested.connect(lambda upload: self.open_dialog(resume=upload))
        bar.anew_requested.connect(self._upload_anew)
        bar.discard_requested.connect(self.discard)
        session.disconnected.connect(lambda: bar.show_offers([]))

    def server_id(self) -> str:
        """The connected server's name in the manifests."""
        profile = self.session.profile
        client = self.session.require_client()
        if profile is None:
            return client.base_url
        return upload_server_id(profile, client)

    def refresh_offers(self) -> asyncio.Task[Any] | None:
        """Read the connected server's interrupted uploads and offer them."""
        if self.session.client is None:
            self.bar.show_offers([])
            return None
        return self.runner.start(self._read_offers(self.server_id()), name=OFFER_TASK)

    async def _read_offers(self, server_id: str) -> None:
        offers = await in_file_thread(read_offers, self.store, server_id)
        names: dict[str, str] | None = None
        if offers and self.session.client is not None:
            try:
                names = {feed.id: feed.name for feed in await self.session.feeds.list_all()}
            except ApiError as exc:  # the ids then stand for the names
                log.info("cannot list the feeds to name interrupted uploads: %s", exc)
        if self.session.client is None or self.server_id() != server_id:
            return  # the connection changed meanwhile: its own refresh speaks
        running = self._running_manifest()
        self.bar.show_offers([o for o in offers if o[0].manifest_path != running], names)
        self.offers_shown.emit(len(self.bar.offers))

    def _running_manifest(self) -> Path | None:
        """The manifest of the upload the open dialog is running (not offered)."""
        dialog = self.dialog
        if dialog is None or dialog.state not in ("running", "paused") or not dialog.isVisible():
            return None
        uploader = dialog.uploader
        path: Path | None = uploader.manifest_path if uploader is not None else None
        return path

    def _remember(self, server_id: str, dialog: Any) -> None:
        """Keep the dialog's feed and file for its next opening on this server."""
        feed = dialog.feed
        self.last_choice[server_id] = (feed.id if feed is not None else None, dialog.path)

    def discard(self, upload: PendingUpload) -> None:
        """Forget an interrupted upload's progress."""
        try:
            self.store.discard(upload)
        except OSError as exc:
            self.runner.failed.emit(RuntimeError(f"Cannot remove {upload.manifest_path}: {exc}"))
            return
        self.bar.show_offers([o for o in self.bar.offers if o[0] != upload])

    def _upload_anew(self, upload: PendingUpload) -> None:
        self.open_dialog(path=upload.path, feed_id=upload.feed)

    def open_dialog(
        self,
        resume: PendingUpload | None = None,
        *,
        path: Path | None = None,
        feed_id: str | None = None,
    ) -> Any:
        """Open the Bulk ingest dialog (resuming `resume` at once, if given; else on
        `path` and `feed_id` when given)."""
        from console.ui.bulk.dialog import BulkIngestDialog

        if not self.session.protection.permit("Bulk ingest"):
            return None
        current = self.dialog
        if current is not None and current.isVisible():
            if current.state in ("running", "paused") or (resume is None and path is None):
                current.raise_()
                current.activateWindow()
                return current
            current.dismiss()
        if current is not None and current.state != "running":
            current.deleteLater()
        server_id = self.server_id()
        if resume is None and path is None and feed_id is None:
            feed_id, path = self.last_choice.get(server_id, (None, None))
            if path is not None and not path.is_file():
                path = None  # moved or deleted since: not offered
        dialog = BulkIngestDialog(
            self.session,
            self.runner,
            server_id=server_id,
            manifest_dir=self.store.directory,
            resume=resume,
            path=path,
            feed_id=feed_id,
            parent=self.window,
        )
        dialog.upload_interrupted.connect(self.refresh_offers)
        dialog.finished.connect(lambda _result: self.refresh_offers())
        dialog.finished.connect(lambda _result: self._remember(server_id, dialog))
        self.dialog = dialog
        if resume is not None:
            self.bar.show_offers([o for o in self.bar.offers if o[0] != resume])
        # Not modal: the window stays usable during a long upload (watch it in Ingest Logs).
        dialog.show()
        return dialog
