"""The trace window: a tab per traced ID, its own Find by ID field, and "New window" to put
one trace beside another."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTabWidget, QVBoxLayout, QWidget

from console.ui.trace.find_field import FindField, FindNotice, shown_id
from console.ui.trace.view import TracePage

MAX_PAGES = 20  # per window; past it the oldest trace not shown is closed
FIND_KEYS = ("Ctrl+K",)
CLOSE_TAB_KEYS = ("Ctrl+W", "Ctrl+F4")


class TraceWindow(QWidget):
    """Non-modal: traces stay open while the user works in the main window."""

    find_requested = Signal(str)  # from its own field
    detach_requested = Signal(object)  # TracePage to move to a window of its own
    emptied = Signal(object)  # this window, now without pages
    closed = Signal(object)  # this window, closed by the user (Esc, its close button)

    def __init__(self, parent: QWidget | None = None, *, primary: bool = True) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.primary = primary
        self.setWindowTitle("Trace — Integration Console")
        self.resize(1100, 700)
        self.find_field = FindField()
        find_label = QLabel("Find by ID:")
        find_label.setBuddy(self.find_field)
        self.find_field.find_requested.connect(self.find_requested)
        self.detach_button = QPushButton("&New window")
        self.detach_button.setToolTip(
            "Move this trace to a window of its own, to put it beside another"
        )
        self.detach_button.clicked.connect(self._detach_current)
        top = QHBoxLayout()
        top.addWidget(find_label)
        top.addWidget(self.find_field, 1)
        top.addWidget(self.detach_button)
        self.notice = FindNotice()
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Traces")
        self.tabs.setDocumentMode(True)
        self.tabs.setTabsClosable(True)
        self.tabs.setMovable(True)
        self.tabs.tabCloseRequested.connect(self.close_page_at)
        self.tabs.currentChanged.connect(self._current_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 6)
        layout.addLayout(top)
        layout.addWidget(self.notice)
        layout.addWidget(self.tabs, 1)
        for key in FIND_KEYS:
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(self.focus_find)
        for key in CLOSE_TAB_KEYS:
            close = QShortcut(QKeySequence(key), self)
            close.setContext(Qt.ShortcutContext.WindowShortcut)
            close.activated.connect(lambda: self.close_page_at(self.tabs.currentIndex()))
        self._sync()

    def pages(self) -> list[TracePage]:
        """The traces open here, in tab order."""
        return [
            w for i in range(self.tabs.count()) if isinstance(w := self.tabs.widget(i), TracePage)
        ]

    def page_for(self, any_id: str) -> TracePage | None:
        """The open trace of `any_id`, if any."""
        return next((page for page in self.pages() if page.any_id == any_id), None)

    @property
    def current_page(self) -> TracePage | None:
        """The trace shown."""
        page = self.tabs.currentWidget()
        return page if isinstance(page, TracePage) else None

    def add_page(self, page: TracePage) -> None:
        """Show `page` in a new tab and make it current (the oldest goes past the cap)."""
        while self.tabs.count() >= MAX_PAGES:
            oldest = 0 if self.tabs.currentIndex() != 0 else 1
            self.close_page_at(oldest)
        index = self.tabs.addTab(page, shown_id(page.any_id, 28))
        self.tabs.setTabToolTip(index, page.any_id)
        self.tabs.setCurrentIndex(index)
        self._sync()

    def take_page(self, page: TracePage) -> None:
        """Remove `page` from the tabs without closing it (it moves elsewhere)."""
        index = self.tabs.indexOf(page)
        if index >= 0:
            self.tabs.removeTab(index)
        self._sync()

    def close_page_at(self, index: int) -> None:
        """Close the trace of tab `index`."""
        page = self.tabs.widget(index)
        if page is None:
            return
        self.tabs.removeTab(index)
        if isinstance(page, TracePage):
            page.close_page()
        page.deleteLater()
        self._sync()

    def close_all(self) -> None:
        """Close every trace (the connection changed: they belong to the old one)."""
        while self.tabs.count():
            self.close_page_at(0)

    def focus_find(self) -> None:
        """Ctrl+K here: the window's own Find by ID field, its text selected."""
        self.find_field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.find_field.selectAll()

    def bring_forward(self) -> None:
        """Show the window in front."""
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    def _detach_current(self) -> None:
        page = self.current_page
        if page is not None and self.tabs.count() > 1:
            self.detach_requested.emit(page)

    def _current_changed(self, _index: int) -> None:
        page = self.current_page
        title = "Trace — Integration Console"
        if page is not None:
            title = f"Trace of {shown_id(page.any_id, 40)} — Integration Console"
        self.setWindowTitle(title)

    def _sync(self) -> None:
        self.detach_button.setEnabled(self.tabs.count() > 1)
        self._current_changed(self.tabs.currentIndex())
        if self.tabs.count() == 0:
            self.emptied.emit(self)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Esc closes the window, as it does a dialog (a widget using Esc takes it first)."""
        if event.key() == Qt.Key.Key_Escape and event.modifiers() == Qt.KeyboardModifier.NoModifier:
            self.close()
            return
        super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing the window closes its traces."""
        self.close_all()
        super().closeEvent(event)
        self.closed.emit(self)
