"""Floor for the start-up benchmark: a bare PySide6 window with four tabbed tables.

Prints `first-paint MS` (milliseconds since $INTEGRATION_CONSOLE_BENCH_T0) and exits.
"""

from __future__ import annotations

import os
import sys
import time

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QTableWidget, QTabWidget


class PaintWatcher(QObject):
    """Reports the first paint of the watched widget."""

    def __init__(self, t0: float) -> None:
        super().__init__()
        self.t0 = t0
        self.done = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Print once, then quit."""
        if not self.done and event.type() == QEvent.Type.Paint:
            self.done = True
            print(f"first-paint {(time.time() - self.t0) * 1000:.1f}", flush=True)
            QTimer.singleShot(0, QApplication.quit)
        return False


def main() -> int:
    """Show the window and wait for its first paint."""
    t0 = float(os.environ.get("INTEGRATION_CONSOLE_BENCH_T0") or time.time())
    app = QApplication(sys.argv[:1])
    window = QMainWindow()
    tabs = QTabWidget()
    for title in ("API Keys", "Pipelines", "Records", "Ingest Logs"):
        tabs.addTab(QTableWidget(20, 8), title)
    window.setCentralWidget(tabs)
    watcher = PaintWatcher(t0)
    tabs.installEventFilter(watcher)
    window.resize(1280, 800)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
