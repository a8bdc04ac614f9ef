"""Validation while typing: debounced, off the UI thread, stale results dropped.

Composing a 3,000-line document takes ~20 ms (STACK_NOTES 8, 10): more than a frame,
so it runs in one worker thread. Results come back through a queued Qt signal, so the
validator works on any Qt event loop (qasync included) without needing asyncio.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import cast

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal

from console.definition.cancellable import ValidationCancelled
from console.definition.model import Problem, ValidationResult
from console.ui.widgets.definition_editor import DefinitionEditor
from console.ui.widgets.problems_list import ProblemsList

log = logging.getLogger(__name__)

Validate = Callable[[str], ValidationResult]
# Takes the text and a stop check; raises ValidationCancelled when the check turns True.
CancellableValidate = Callable[[str, Callable[[], bool]], ValidationResult]
THREAD_NAME_PREFIX = "definition-validate"


class LiveValidator(QObject):
    """Runs `validate` on the latest text, `debounce_ms` after the last change."""

    validated = Signal(object, int)  # ValidationResult, generation
    failed = Signal(object, int)  # the exception validate raised, generation
    started = Signal(int)  # generation handed to the worker
    pending_changed = Signal(bool)

    # Worker → main thread; queued explicitly so the slot always runs on the UI thread.
    _finished = Signal(object, int, object)

    def __init__(
        self,
        validate: Validate | CancellableValidate,
        debounce_ms: int = 150,
        parent: QObject | None = None,
        *,
        in_child_process: bool = False,
        cancellable: bool = False,
    ) -> None:
        """`cancellable`: `validate(text, should_stop)` abandons stale work when told.

        A stale validation in the worker thread competes with the keystroke that made it
        stale for the GIL; stopping it at the first key press keeps typing smooth
        (bench/editor_bench.py). `in_child_process` runs a picklable `validate` in a
        spawned child instead (no GIL shared, not cancellable).
        """
        super().__init__(parent)
        self._validate = validate
        self._cancellable = cancellable and not in_child_process
        self._stop: threading.Event | None = None
        self._generation = 0
        self._text: str | Callable[[], str] = ""
        self._in_flight: Future[ValidationResult] | None = None
        self._in_flight_generation = -1
        self._closed = False
        self._was_pending = False
        # One worker: a newer text waits for (at most) the one validation running now.
        # A worker thread shares the GIL, so keys typed while it validates wait for it
        # (see bench/editor_bench.py); a child process does not, at ~0.3 s to start.
        self._executor: Executor | None = (
            ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            if in_child_process
            else ThreadPoolExecutor(1, thread_name_prefix=THREAD_NAME_PREFIX)
        )
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(debounce_ms)
        self._timer.timeout.connect(self._start)
        self._finished.connect(self._on_finished, Qt.ConnectionType.QueuedConnection)

    @property
    def generation(self) -> int:
        """The generation of the latest scheduled text."""
        return self._generation

    @property
    def debounce_ms(self) -> int:
        """Quiet time after the last change before validating."""
        return self._timer.interval()

    @property
    def pending(self) -> bool:
        """True while the latest text has not been validated yet."""
        return self._timer.isActive() or self._in_flight_generation == self._generation

    def schedule(self, text: str | Callable[[], str]) -> int:
        """Validate `text` after the debounce (restarting it); returns its generation.

        `text` may be a callable returning it, called on the UI thread when the
        debounce ends: copying a 3,000-line document on every keystroke costs more
        than handling the keystroke itself.
        """
        if self._closed:
            return self._generation
        self.interrupt()
        self._generation += 1
        self._text = text
        self._timer.start()
        self._notify_pending()
        return self._generation

    def interrupt(self) -> None:
        """Tell a running validation that its text is stale (cheap; any thread)."""
        stop = self._stop
        if stop is not None:
            stop.set()

    def cancel(self) -> None:
        """Forget the latest text: nothing scheduled or running is ever emitted."""
        self._timer.stop()
        self.interrupt()
        self._generation += 1  # a result still on its way belongs to an older generation
        self._notify_pending()

    def flush(self) -> None:
        """Start validating the latest text now, skipping the rest of the debounce."""
        if self._timer.isActive():
            self._timer.stop()
            self._start()

    def shutdown(self) -> None:
        """Stop the timer and the worker thread; later results are never emitted."""
        self._closed = True
        self._timer.stop()
        executor, self._executor = self._executor, None
        if executor is not None:
            # Waits for a validation already running (tens of ms at most), so no
            # thread outlives the validator.
            executor.shutdown(wait=True, cancel_futures=True)
        self._in_flight = None
        self._in_flight_generation = -1
        self._notify_pending()

    def _start(self) -> None:
        if self._closed or self._executor is None:
            return
        if self._in_flight is not None:
            self._in_flight.cancel()  # superseded and not started yet: skip it
        generation, text = self._generation, self._text
        if callable(text):
            text = self._text = text()
        if self._cancellable:
            stop = self._stop = threading.Event()
            validate = cast(CancellableValidate, self._validate)
            future = self._executor.submit(validate, text, stop.is_set)
        else:
            future = self._executor.submit(cast(Validate, self._validate), text)
        self._in_flight, self._in_flight_generation = future, generation
        future.add_done_callback(lambda done: self._deliver(done, generation))
        self.started.emit(generation)

    def _deliver(self, future: Future[ValidationResult], generation: int) -> None:
        # Runs on the worker thread: hand over only, touch nothing else.
        if future.cancelled():
            return
        error = future.exception()
        self._finished.emit(None if error else future.result(), generation, error)

    def _on_finished(
        self, result: ValidationResult | None, generation: int, error: BaseException | None
    ) -> None:
        if self._closed:
            return
        if generation == self._in_flight_generation:
            self._in_flight, self._in_flight_generation = None, -1
        if generation != self._generation:
            return  # the text changed since: a newer generation is coming
        self._notify_pending()
        if isinstance(error, ValidationCancelled):
            # Stopped by a key press that did not change the text (an arrow, Shift):
            # this text still needs its result, so run it again after the debounce.
            self._timer.start()
            self._notify_pending()
            return
        if error is not None:
            log.error("definition validation failed", exc_info=error)
            self.failed.emit(error, generation)
        elif result is not None:
            self.validated.emit(result, generation)

    def _notify_pending(self) -> None:
        pending = self.pending
        if pending != self._was_pending:
            self._was_pending = pending
            self.pending_changed.emit(pending)


class LiveValidationLink(QObject):
    """Connects an editor, its validator and a problems list; dies with the editor.

    What is shown is always the result of the text in the editor: while a newer text is
    being checked the list says so, and `document_replaced` drops the old marks at once.
    """

    result_shown = Signal(int)  # the generation whose result (or failure) is now shown

    def __init__(
        self,
        editor: DefinitionEditor,
        validator: LiveValidator,
        problems_list: ProblemsList | None,
    ) -> None:
        # Parented to the editor: when it goes, Qt disconnects these slots.
        super().__init__(editor)
        self.editor = editor
        self.validator = validator
        self.problems_list = problems_list
        editor.textChanged.connect(self.text_changed)
        # A key press is the earliest moment the running validation is known to be stale:
        # stop it before Qt calls into Python again for this keystroke.
        editor.installEventFilter(self)
        validator.validated.connect(self.show_result)
        validator.failed.connect(self.show_failure)
        validator.pending_changed.connect(self.show_checking)
        if problems_list is not None:
            problems_list.problem_activated.connect(self.jump_to_problem)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """On a key press, stop a validation that this keystroke makes stale."""
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.InputMethod):
            self.validator.interrupt()
        return False

    def text_changed(self) -> None:
        """Hand the new text to the validator."""
        self.validator.schedule(self.editor.toPlainText)

    def show_result(self, result: ValidationResult, generation: int) -> None:
        """Show a (current) result in the editor and under "local" in the list."""
        self.editor.set_problems(result.problems)
        if self.problems_list is not None:
            self.problems_list.set_problems("local", result.problems)
        self.result_shown.emit(generation)

    def show_failure(self, _error: BaseException, generation: int) -> None:
        """A validator failure (logged by the validator) leaves no stale marks behind."""
        self.document_replaced()
        self.result_shown.emit(generation)

    def show_checking(self, pending: bool) -> None:
        """Say "Checking…" in the list while the latest text waits for its result."""
        if self.problems_list is not None:
            self.problems_list.set_checking("local", pending)

    def document_replaced(self) -> None:
        """Another document is in the editor: its predecessor's marks go at once."""
        self.editor.set_problems([])
        if self.problems_list is not None:
            self.problems_list.set_problems("local", [])

    def jump_to_problem(self, problem: Problem) -> None:
        """Move the editor's cursor to an activated problem."""
        self.editor.jump_to(problem.line, problem.column)

    def detach(self) -> None:
        """Disconnect everything (the validator keeps running until shut down)."""
        self.editor.removeEventFilter(self)
        self.editor.textChanged.disconnect(self.text_changed)
        self.validator.validated.disconnect(self.show_result)
        self.validator.failed.disconnect(self.show_failure)
        self.validator.pending_changed.disconnect(self.show_checking)
        if self.problems_list is not None:
            self.problems_list.problem_activated.disconnect(self.jump_to_problem)
        self.setParent(None)


def attach_live_validation(
    editor: DefinitionEditor, validator: LiveValidator, problems_list: ProblemsList | None = None
) -> LiveValidationLink:
    """Validate as the user types; show results in the editor and the problems list."""
    link = LiveValidationLink(editor, validator, problems_list)
    validator.schedule(editor.toPlainText())  # the text already there counts too
    return link
