"""Find by ID: look an ID up (one request) and show its trace, newest question only.

One lookup at a time: a new one cancels the one under way, and an answer that still
arrives for an older question is dropped (a generation number guards it), so a second
paste while the first loads shows the second.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from console.api.errors import ApiError
from console.api.logs import Trace
from console.ui.trace.find_field import KINDS_SEARCHED, clean_id, id_problem, shown_id
from console.ui.trace.view import TracePage
from console.ui.trace.window import TraceWindow
from console.ui.widgets.error_banner import describe_error

if TYPE_CHECKING:
    from console.ui.session import ConsoleSession
    from console.ui.tasks import TaskRunner

log = logging.getLogger(__name__)
TASK_NAME = "trace.find"


class TraceFinder(QObject):
    """Looks IDs up and shows their traces in the trace windows."""

    notice = Signal(str)  # what to tell the user beside the field ("" clears it)
    searching = Signal(bool)
    trace_opened = Signal(str, object)  # the ID, its TracePage (shown and current)
    not_found = Signal(str)  # the ID nothing matched
    open_record_requested = Signal(str, str)  # feed, GUID

    def __init__(self, session: ConsoleSession, runner: TaskRunner, owner: QWidget) -> None:
        super().__init__(owner)
        self.session = session
        self.runner = runner
        self.owner = owner
        self.windows: list[TraceWindow] = []
        self._generation = 0
        # The trace window whose own field asked the newest question (None: the main
        # window's): what Find says about it is said there only, and goes with that window.
        self._origin: TraceWindow | None = None
        session.connected.connect(lambda _profile: self.clear())
        session.disconnected.connect(self.clear)

    # -- looking up ------------------------------------------------------------------

    def find(self, text: str, origin: TraceWindow | None = None) -> asyncio.Task[Any] | None:
        """Look up the ID in `text` and show its trace; None when nothing was sent.

        `origin`: the trace window whose Find field asked, where the answer's notice shows
        (and nowhere else); None for the main window's field and links.
        """
        any_id = clean_id(text)
        self._generation += 1  # whatever was asked before is stale now
        self._origin = origin
        self.runner.cancel(TASK_NAME)
        problem = id_problem(any_id)
        if problem is not None:
            self._say(problem if any_id else "")
            self.searching.emit(False)
            return None
        if self.session.client is None:
            self._say("Not connected: choose a connection first, then find the ID.")
            self.searching.emit(False)
            return None
        self._say("")
        self.searching.emit(True)
        return self.runner.start(self._find(any_id, self._generation), name=TASK_NAME)

    async def _find(self, any_id: str, generation: int) -> None:
        try:
            trace = await self.session.logs.trace(any_id)
        except ApiError as error:
            if generation == self._generation:
                self.searching.emit(False)
                self._lookup_failed(any_id, error)
            return
        except BaseException:
            if generation == self._generation:
                self.searching.emit(False)
            raise
        if generation != self._generation:
            return  # a newer question was asked meanwhile
        self.searching.emit(False)
        self.show_trace(any_id, trace)

    def _lookup_failed(self, any_id: str, error: ApiError) -> None:
        shown = shown_id(any_id)
        if error.status == 404:
            where = self.session.profile.name if self.session.profile is not None else "the server"
            self._say(
                f"Nothing matched “{shown}”. Searched {KINDS_SEARCHED} of {where}, exactly "
                "as written. (Requests that manage keys, pipelines or feeds are not logged: "
                "their correlation IDs trace nothing.)"
            )
            self.not_found.emit(any_id)
        elif error.status == 403:
            self._say(
                f"Could not look up “{shown}”: Find by ID reads the connector logs, which "
                "need an admin key (this connection uses an ingest key)."
            )
        else:
            headline, details, _corr = describe_error(error)
            self._say(f"Could not look up “{shown}”: {' '.join([headline, *details])}")

    def _say(self, text: str) -> None:
        origin = self._origin if self._origin in self.windows else None
        self.notice.emit(text if origin is None else "")
        for window in self.windows:
            window.notice.say(text if origin is None or window is origin else "")

    # -- showing -----------------------------------------------------------------------

    def show_trace(self, any_id: str, trace: Trace) -> TracePage:
        """Show `trace` in the tab of `any_id` (opened if new), in front."""
        for window in self.windows:
            page = window.page_for(any_id)
            if page is not None:
                page.show_trace(trace)
                window.tabs.setCurrentWidget(page)
                window.bring_forward()
                self.trace_opened.emit(any_id, page)
                return page
        window = self._primary()
        page = TracePage(any_id, self.session, self.runner)
        page.find_requested.connect(self.find)
        page.open_record_requested.connect(self.open_record_requested)
        page.show_trace(trace)
        window.add_page(page)
        window.bring_forward()
        self.trace_opened.emit(any_id, page)
        return page

    def _primary(self) -> TraceWindow:
        for window in self.windows:
            if window.primary:
                return window
        return self._new_window(primary=True)

    def _new_window(self, *, primary: bool) -> TraceWindow:
        window = TraceWindow(self.owner, primary=primary)
        window.find_requested.connect(lambda text: self.find(text, origin=window))
        window.detach_requested.connect(self._detach)
        window.emptied.connect(self._window_emptied)
        window.closed.connect(self._window_closed)
        self.windows.append(window)
        return window

    def _detach(self, page: TracePage) -> None:
        """Move `page` to a window of its own, beside the one it was in."""
        source = next((w for w in self.windows if page in w.pages()), None)
        if source is None:
            return
        source.take_page(page)
        window = self._new_window(primary=False)
        window.add_page(page)
        window.move(source.pos().x() + 40, source.pos().y() + 40)
        window.bring_forward()

    def _window_closed(self, window: TraceWindow) -> None:
        """A notice of the window's own question goes with it; it never stays behind on
        the main window."""
        window.notice.say("")
        if self._origin is window:
            self._origin = None
            self.notice.emit("")

    def _window_emptied(self, window: TraceWindow) -> None:
        window.notice.say("")
        if not window.primary and window in self.windows:
            self.windows.remove(window)
            window.hide()
            window.deleteLater()
        else:
            window.hide()

    @property
    def pages(self) -> list[TracePage]:
        """Every trace open, window by window."""
        return [page for window in self.windows for page in window.pages()]

    def clear(self) -> None:
        """The connection changed: drop the lookup under way and close every trace."""
        self._generation += 1
        self.runner.cancel(TASK_NAME)
        self._say("")
        for window in list(self.windows):
            window.close_all()
