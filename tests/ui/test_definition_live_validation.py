"""LiveValidator: debounced, in a worker, stale generations dropped, no leaked threads."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot

from console.definition import Problem, ProblemKind, ValidationCancelled, ValidationResult
from console.ui.widgets.live_validation import THREAD_NAME_PREFIX, LiveValidator

pytestmark = pytest.mark.gui


def _result_for(text: str) -> ValidationResult:
    return ValidationResult((Problem("", f"saw {text}", 1, 1, ProblemKind.SHAPE),))


def _validator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_NAME_PREFIX)]


@pytest.fixture
def validators(qloop: asyncio.AbstractEventLoop) -> Iterator[list[LiveValidator]]:
    """Validators made by a test; all shut down, and their threads gone, afterwards."""
    made: list[LiveValidator] = []
    yield made
    for validator in made:
        validator.shutdown()
    assert not _validator_threads()


def test_a_result_superseded_while_running_is_dropped(
    qtbot: QtBot, validators: list[LiveValidator]
) -> None:
    first_running, release_first = threading.Event(), threading.Event()
    seen: list[str] = []

    def validate(text: str) -> ValidationResult:
        seen.append(text)
        if text == "first":
            first_running.set()
            release_first.wait(10)
        return _result_for(text)

    validator = LiveValidator(validate, debounce_ms=5)
    validators.append(validator)
    applied: list[tuple[str, int]] = []
    validator.validated.connect(lambda r, g: applied.append((r.problems[0].message, g)))

    with qtbot.waitSignal(validator.started, timeout=2000):
        validator.schedule("first")
    qtbot.waitUntil(first_running.is_set, timeout=2000)
    with qtbot.waitSignal(validator.started, timeout=2000):
        second = validator.schedule("second")  # queued behind the running one
    assert validator.pending
    with qtbot.waitSignal(validator.validated, timeout=5000):
        release_first.set()
    assert seen == ["first", "second"]
    assert applied == [("saw second", second)]
    assert not validator.pending


def test_a_burst_of_changes_validates_once(qtbot: QtBot, validators: list[LiveValidator]) -> None:
    seen: list[str] = []

    def validate(text: str) -> ValidationResult:
        seen.append(text)
        return _result_for(text)

    validator = LiveValidator(validate, debounce_ms=50)
    validators.append(validator)
    with qtbot.waitSignal(validator.validated, timeout=2000) as shown:
        for length in range(1, 30):
            validator.schedule("x" * length)
    assert seen == ["x" * 29]
    assert shown.args[1] == validator.generation == 29


def test_flush_skips_the_debounce(qtbot: QtBot, validators: list[LiveValidator]) -> None:
    validator = LiveValidator(_result_for, debounce_ms=60_000)
    validators.append(validator)
    validator.schedule("now")
    with qtbot.waitSignal(validator.validated, timeout=2000) as shown:
        validator.flush()
    assert shown.args[0].problems[0].message == "saw now"


def test_a_failing_validate_is_reported_not_raised(
    qtbot: QtBot, validators: list[LiveValidator], caplog: pytest.LogCaptureFixture
) -> None:
    def validate(text: str) -> ValidationResult:
        raise ValueError("validator bug")

    validator = LiveValidator(validate, debounce_ms=1)
    validators.append(validator)
    with qtbot.waitSignal(validator.failed, timeout=2000) as failed:
        validator.schedule("anything")
    assert isinstance(failed.args[0], ValueError)
    assert "definition validation failed" in caplog.text


def test_shutdown_stops_everything_and_ignores_later_schedules(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop
) -> None:
    validator = LiveValidator(_result_for, debounce_ms=1)
    with qtbot.waitSignal(validator.validated, timeout=2000):
        validator.schedule("once")
    assert _validator_threads()
    validator.shutdown()
    assert not _validator_threads()
    with qtbot.assertNotEmitted(validator.validated, wait=50):
        validator.schedule("after")
    assert not validator.pending
    validator.shutdown()  # twice is harmless


def test_validating_in_a_child_process(qtbot: QtBot, validators: list[LiveValidator]) -> None:
    import multiprocessing

    from console.definition import MINIMAL_EXAMPLE_YAML, validate_text

    validator = LiveValidator(validate_text, debounce_ms=1, in_child_process=True)
    validators.append(validator)
    with qtbot.waitSignal(validator.validated, timeout=20000) as shown:
        validator.schedule(MINIMAL_EXAMPLE_YAML + "colour: red\n")
    assert [p.path for p in shown.args[0].problems] == ["colour"]
    validator.shutdown()
    assert not multiprocessing.active_children()


def test_a_stale_run_is_stopped_by_a_key_press(
    qtbot: QtBot, validators: list[LiveValidator]
) -> None:
    """The worker gives the GIL back as soon as the text it checks is out of date."""
    stopped = threading.Event()

    def validate(text: str, should_stop: Callable[[], bool]) -> ValidationResult:
        if text == "slow":
            while not should_stop():
                time.sleep(0.001)  # a long validation, polling its stop flag as compose does
            stopped.set()
            raise ValidationCancelled
        return _result_for(text)

    validator = LiveValidator(validate, debounce_ms=10, cancellable=True)
    validators.append(validator)
    with qtbot.waitSignal(validator.started, timeout=5000):
        validator.schedule("slow")
    with qtbot.waitSignal(validator.validated, timeout=5000) as got:
        validator.schedule("fast")  # the edit: the slow run is abandoned at once
    assert stopped.wait(5)
    assert got.args[1] == validator.generation


def test_a_run_stopped_by_a_non_editing_key_is_run_again(
    qtbot: QtBot, validators: list[LiveValidator]
) -> None:
    """An arrow key interrupts the run, but the unchanged text still gets its result."""
    calls: list[str] = []

    def validate(text: str, should_stop: Callable[[], bool]) -> ValidationResult:
        calls.append(text)
        if len(calls) == 1:
            while not should_stop():
                time.sleep(0.001)
            raise ValidationCancelled
        return _result_for(text)

    validator = LiveValidator(validate, debounce_ms=10, cancellable=True)
    validators.append(validator)
    with qtbot.waitSignal(validator.started, timeout=5000):
        validator.schedule("a: 1")
    with qtbot.waitSignal(validator.validated, timeout=5000):
        validator.interrupt()  # what the editor's key filter does on an arrow key
    assert calls == ["a: 1", "a: 1"]
    assert not validator.pending
