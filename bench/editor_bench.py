"""Per-keystroke cost of the definition editor with live validation. Run from the repo root:

    python bench/editor_bench.py [--quick] [--child-process] [--json PATH]

A 1,000-table definition (~3,000 lines of YAML) sits in a shown DefinitionEditor, offscreen,
on a qasync loop, with the real local validator attached (150 ms debounce, worker thread).
Keystrokes are QKeyEvents sent to the editor; each one's UI-thread cost is the time from
sending the key press until the key release and every event it posted (the repaint
included) have been handled: the time until control returns to the event loop. The
validator's main-thread callbacks are timed too: its debounce callback (submitting to the
worker) and the slot that shows a result (squiggles plus problems list).

Phase A types bursts of 10 keys at 35 ms intervals, waits for the result to be shown, and
records the latency from the burst's last key. Phase B types one key every 160 ms, so
each key lands while the previous key's validation runs in the worker (GIL contention).
Floor: the same keystrokes into a plain QPlainTextEdit with no highlighter or validation,
measured in the same run. --child-process validates in a spawned child instead of a
thread, which removes most of phase B's GIL contention.
"""

from __future__ import annotations

import os

# Before Qt is imported: render offscreen, and make qasync pick PySide6.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import qasync  # after PySide6 (STACK_NOTES 2)
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QPlainTextEdit

from console.definition import MINIMAL_EXAMPLE_YAML, ValidationResult, validate_text
from console.ui.widgets.definition_editor import DefinitionEditor
from console.ui.widgets.live_validation import LiveValidator, attach_live_validation
from console.ui.widgets.problems_list import ProblemsList

TARGET_P95_MS = 16.0
DEBOUNCE_MS = 150
TYPED = "abcdefghij"  # one burst


def definition(tables: int = 1000) -> str:
    """The documented minimal example with `tables` tables of three lines each."""
    head = MINIMAL_EXAMPLE_YAML.split("tables:")[0]
    rows = "".join(
        f"  - name: public.table_{i:04d}\n"
        f"    append_only: {'true' if i % 2 else 'false'}\n"
        f"    columns: {{exclude: [secret_{i}]}}\n"
        for i in range(tables)
    )
    return f"{head}tables:\n{rows}"


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


@dataclass
class Figures:
    """Samples in milliseconds."""

    keystroke: list[float] = field(default_factory=list)
    keystroke_during_validation: list[float] = field(default_factory=list)
    result_shown_after_last_key: list[float] = field(default_factory=list)
    show_result: list[float] = field(default_factory=list)
    debounce_callback: list[float] = field(default_factory=list)


def press(widget: QPlainTextEdit, char: str) -> float:
    """Send one key to `widget`; milliseconds until it and what it posted are handled."""
    key = Qt.Key(ord(char.upper())) if char.isalpha() else Qt.Key.Key_Space
    down = QKeyEvent(QEvent.Type.KeyPress, key, Qt.KeyboardModifier.NoModifier, char)
    up = QKeyEvent(QEvent.Type.KeyRelease, key, Qt.KeyboardModifier.NoModifier, char)
    started = time.perf_counter()
    QApplication.sendEvent(widget, down)
    QApplication.sendEvent(widget, up)
    # Posted work (the viewport's repaint, queued signals) runs before we count it done.
    QApplication.sendPostedEvents()
    return (time.perf_counter() - started) * 1000


def place_cursor(widget: QPlainTextEdit, line: int) -> None:
    """Cursor at the end of 1-based `line`, scrolled into view."""
    block = widget.document().findBlockByNumber(line - 1)
    cursor = widget.textCursor()
    cursor.setPosition(block.position() + block.length() - 1)
    widget.setTextCursor(cursor)
    widget.centerCursor()


async def bench_editor(text: str, bursts: int, slow_keys: int, in_child: bool) -> Figures:
    """Type into the real editor with live validation attached."""
    figures = Figures()
    editor = DefinitionEditor()
    problems = ProblemsList()
    editor.resize(1280, 800)
    editor.show()
    # As the Pipelines tab configures it: cancellable, so a key press stops stale work.
    validator = (
        LiveValidator(validate_text, debounce_ms=DEBOUNCE_MS, in_child_process=True)
        if in_child
        else LiveValidator(
            lambda text, should_stop: validate_text(text, should_stop=should_stop),
            debounce_ms=DEBOUNCE_MS,
            cancellable=True,
        )
    )
    shown: asyncio.Queue[tuple[int, float]] = asyncio.Queue()
    marks: dict[str, float] = {}

    # Slots run in connection order: these two bracket the link's show_result.
    def before_show(result: ValidationResult, generation: int) -> None:
        marks["show"] = time.perf_counter()

    def after_show(result: ValidationResult, generation: int) -> None:
        now = time.perf_counter()
        figures.show_result.append((now - marks["show"]) * 1000)
        shown.put_nowait((generation, now))

    validator.validated.connect(before_show)
    editor.setPlainText(text)
    attach_live_validation(editor, validator, problems)
    validator.validated.connect(after_show)
    await shown.get()  # the initial validation
    # One unknown key, so results carry a problem to underline and list.
    place_cursor(editor, 1500)
    editor.textCursor().insertText("\n    colour: red")
    await shown.get()
    try:
        place_cursor(editor, 1200)  # a table name in the middle of the document
        for _ in range(bursts):
            for char in TYPED:
                figures.keystroke.append(press(editor, char))
                await asyncio.sleep(0.035)
            last_key, generation = time.perf_counter(), validator.generation
            while True:
                shown_generation, at = await shown.get()
                if shown_generation == generation:
                    break
            figures.result_shown_after_last_key.append((at - last_key) * 1000)
            await asyncio.sleep(0.1)
        for index in range(slow_keys):
            figures.keystroke_during_validation.append(press(editor, TYPED[index % 10]))
            await asyncio.sleep(0.16)
        for _ in range(20):  # the debounce callback alone: hand the text to the worker
            validator.schedule(editor.toPlainText())
            started = time.perf_counter()
            validator.flush()
            figures.debounce_callback.append((time.perf_counter() - started) * 1000)
            await shown.get()
        paths = [p.path for p in editor.problems()]
        # The unknown key, and (after hundreds of typed keys) the name typed into may have
        # passed the 255-character limit of a table name: nothing else.
        assert [p for p in paths if p.endswith(".colour")], paths
        assert all(p.endswith((".colour", "].name")) for p in paths), paths
    finally:
        validator.shutdown()
        editor.close()
        problems.close()
    return figures


async def bench_floor(text: str, bursts: int) -> list[float]:
    """The same keystrokes into a plain QPlainTextEdit: no highlighter, no validation."""
    plain = QPlainTextEdit()
    plain.resize(1280, 800)
    plain.show()
    plain.setPlainText(text)
    place_cursor(plain, 1200)
    samples = []
    for _ in range(bursts):
        for char in TYPED:
            samples.append(press(plain, char))
            await asyncio.sleep(0.035)
    plain.close()
    return samples


def summary(values: list[float]) -> tuple[float, float]:
    """Median and p95."""
    return statistics.median(values), percentile(values, 0.95)


async def run(quick: bool, in_child: bool) -> dict[str, object]:
    """Both measurements, floor first and last so drift shows."""
    text = definition()
    bursts, slow_keys = (5, 15) if quick else (20, 60)
    floor = await bench_floor(text, bursts // 2 or 1)
    figures = await bench_editor(text, bursts, slow_keys, in_child)
    floor += await bench_floor(text, bursts - bursts // 2 or 1)
    return {
        "lines": text.count("\n"),
        "keystrokes": len(figures.keystroke) + len(figures.keystroke_during_validation),
        "editor": figures.__dict__,
        "floor": floor,
    }


def report(results: dict[str, object]) -> None:
    """Print the markdown table."""
    editor = results["editor"]
    assert isinstance(editor, dict)
    floor = results["floor"]
    assert isinstance(floor, list)
    floor_median, floor_p95 = summary(floor)

    def row(name: str, values: list[float], ratio: bool = False, target: str = "—") -> str:
        median, p95 = summary(values)
        versus = f"{median / floor_median:.1f}× / {p95 / floor_p95:.1f}×" if ratio else "—"
        return f"| {name} | {median:.2f} ms | {p95:.2f} ms | {versus} | {target} |"

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"document: {results['lines']} lines, {results['keystrokes']} keystrokes")
    target = f"p95 ≤ {TARGET_P95_MS:.0f} ms"
    print("| measure | median | p95 | vs floor (median / p95) | target |")
    print("|---|---|---|---|---|")
    print(row("keystroke, UI thread (key + posted events)", editor["keystroke"], True, target))
    print(
        row(
            "keystroke while a validation runs in the worker",
            editor["keystroke_during_validation"],
            True,
            target,
        )
    )
    print(row("floor: plain QPlainTextEdit keystroke", floor))
    print(row("validator debounce callback (UI thread)", editor["debounce_callback"]))
    print(row("showing a result (UI thread)", editor["show_result"]))
    print(
        row(
            f"last keystroke → result shown ({DEBOUNCE_MS} ms debounce included)",
            editor["result_shown_after_last_key"],
        )
    )


def main() -> int:
    """Run the editor benchmark on a qasync loop and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer keystrokes (smoke run)")
    parser.add_argument(
        "--child-process", action="store_true", help="validate in a child process, not a thread"
    )
    parser.add_argument("--json", type=Path, help="also write the raw samples here")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(sys.argv)
    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        results = runner.run(run(args.quick, args.child_process))
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    keystrokes = results["editor"]["keystroke"]  # type: ignore[index]
    return 0 if percentile(keystrokes, 0.95) <= TARGET_P95_MS else 1


if __name__ == "__main__":
    sys.exit(main())
