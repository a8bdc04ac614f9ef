"""Floor for the start-up benchmark: a bare PySide6 window doing what `--screenshots` does.

A QMainWindow with four tabbed 20x8 tables, 1280x800, shown; after its first paint each
tab is grabbed and saved as a PNG into the directory given as the first argument; then
the app quits and the process exits the ordinary way. Prints `first-paint MS` and
`screenshots-saved MS` (milliseconds since $INTEGRATION_CONSOLE_BENCH_T0, which the
benchmark sets just before it spawns this process). No imports beyond PySide6.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QTableWidget, QTabWidget

TITLES = ("API Keys", "Pipelines", "Records", "Ingest Logs")


class PaintWatcher(QObject):
    """Reports the first paint of the watched widget, then saves the screenshots."""

    def __init__(self, t0: float, window: QMainWindow, tabs: QTabWidget, out: Path) -> None:
        super().__init__()
        self.t0 = t0
        self.window = window
        self.tabs = tabs
        self.out = out
        self.done = False

    def mark(self, name: str) -> None:
        """Print one mark."""
        print(f"{name} {(time.time() - self.t0) * 1000:.1f}", flush=True)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """At the first paint: print the mark and queue the screenshots."""
        if not self.done and event.type() == QEvent.Type.Paint:
            self.done = True
            self.mark("first-paint")
            QTimer.singleShot(0, self.save_screenshots)
        return False

    def save_screenshots(self) -> None:
        """Grab every tab at the window's size, as the console does, then quit."""
        self.out.mkdir(parents=True, exist_ok=True)
        for index in range(self.tabs.count()):
            self.tabs.setCurrentIndex(index)
            path = self.out / f"{index + 1:02d}-floor.png"
            if not self.window.grab().save(str(path), "PNG"):
                raise OSError(f"could not write {path}")
        self.mark("screenshots-saved")
        QApplication.quit()


def main() -> int:
    """Show the window, save four PNGs after its first paint, exit."""
    t0 = float(os.environ.get("INTEGRATION_CONSOLE_BENCH_T0") or time.time())
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("floor-shots")
    app = QApplication(sys.argv[:1])
    window = QMainWindow()
    tabs = QTabWidget()
    for title in TITLES:
        tabs.addTab(QTableWidget(20, 8), title)
    window.setCentralWidget(tabs)
    watcher = PaintWatcher(t0, window, tabs, out)
    tabs.installEventFilter(watcher)
    window.resize(1280, 800)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
