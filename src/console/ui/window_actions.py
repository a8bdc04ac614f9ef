"""Every action of the main window, registered once: the palette, the F1 sheet and the
window's shortcuts are all generated from these registrations.

An action that a button also offers runs that button (`click()`), after showing its tab, so
the palette and a shortcut run exactly what the button runs, with the same checks; its
enabled state is the button's, so whatever disables the button (no selection, no
connection, a locked production profile) disables the entry too, with the button's tooltip
(or a plainer reason) as the why. An action of a tab whose part the server does not offer,
or the connected key may not use, is disabled with the sentence that tab's page shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QAbstractButton, QWidget

from console.api.capabilities import unavailable_text
from console.ui.actions import WINDOW, ActionRegistry, ConsoleAction, refusal_of
from console.ui.widgets.not_offered import NotOfferedPage

if TYPE_CHECKING:
    from console.ui.main_window import MainWindow
    from console.ui.trace.window import TraceWindow

NEXT_TAB_KEYS = ("Ctrl+Tab", "Ctrl+PgDown")
PREVIOUS_TAB_KEYS = ("Ctrl+Shift+Tab", "Ctrl+Shift+Backtab", "Ctrl+PgUp")
FIND_BY_ID_KEYS = ("Ctrl+K",)  # from any tab, the definition editor included
PALETTE_KEYS = ("Ctrl+Shift+P",)
SHEET_KEYS = ("F1",)
REFRESH_KEYS = ("F5",)
# Ctrl+1 … Ctrl+4: no widget of the window uses them (a table, a line edit and the
# definition editor all leave Ctrl+digit alone).
TAB_KEYS = ("Ctrl+1", "Ctrl+2", "Ctrl+3", "Ctrl+4")
# Keys handled where they work, not by the window (listed on the sheet, never bound twice).
COMPLETION_KEYS = ("Ctrl+Space",)  # console.ui.widgets.definition_editor
TRACE_CLOSE_KEYS = ("Ctrl+W", "Ctrl+F4")  # console.ui.trace.window.CLOSE_TAB_KEYS
CANCEL_CONNECT_KEYS = ("Esc",)  # MainWindow.keyPressEvent, when no widget takes Esc
QUIT_KEYS = ("Ctrl+Q",)
BULK_INGEST_KEY = "Alt+B"  # the Bulk ingest button's mnemonic (MainWindow.bulk_button)
BULK_INGEST_SCOPE = "the main window, as the button's Alt key"
PROFILE_PREFIX = "profile.switch."
NOT_CONNECTED = "Not connected: choose a connection first."


def standard_keys(key: QKeySequence.StandardKey) -> tuple[str, ...]:
    """The platform's key sequences for `key`, as portable text."""
    return tuple(
        sequence.toString(QKeySequence.SequenceFormat.PortableText)
        for sequence in QKeySequence.keyBindings(key)
    )


def button_reason(button: QAbstractButton, fallback: str) -> str:
    """Why a disabled button cannot act: its tooltip when it says, else `fallback`."""
    return button.toolTip() or fallback


def _negated(check: Callable[[], bool]) -> bool:
    return not check()


def _show(window: MainWindow, index: int) -> None:
    # By index: a tab whose part cannot be used here shows the page saying why.
    window.tabs.setCurrentIndex(index)


def _button_of(owner: Callable[[], object], name: str) -> QAbstractButton:
    button = getattr(owner(), name)
    assert isinstance(button, QAbstractButton)
    return button


class WindowActions:
    """Registers the window's actions and runs them (palette, shortcuts, sheet)."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.registry: ActionRegistry = window.action_registry
        self.shortcuts: list[QShortcut] = []

    # -- running -----------------------------------------------------------------

    def trigger(self, action: ConsoleAction) -> bool:
        """Run `action` if it can run now; else say why in the status bar. True if it ran."""
        reason = refusal_of(action, self.window.session.protection)
        if reason is not None:
            self.window.status.showMessage(f"{action.title}: {reason}", 8000)
            return False
        action.run()
        return True

    def bind_shortcuts(self) -> None:
        """One window-wide QShortcut per key of every action the window binds."""
        for action in self.registry:
            if action.scope != WINDOW:
                continue
            for key in action.shortcuts:
                shortcut = QShortcut(QKeySequence(key), self.window)
                shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
                shortcut.activated.connect(lambda a=action: self.trigger(a))
                self.shortcuts.append(shortcut)

    def profile_actions(self) -> Iterator[ConsoleAction]:
        """One "Connect to …" entry per saved profile (the palette lists them as it opens)."""
        window = self.window
        for profile in list(window.settings.profiles):
            name = profile.name

            def connected(name: str = name) -> bool:
                return window.session.profile is not None and window.session.profile.name == name

            yield ConsoleAction(
                id=PROFILE_PREFIX + name,
                title=f"Connect to “{name}”",
                category="Connection",
                run=partial(window._connect_named, name),
                description=f"Switch the window to the connection profile “{name}”",
                enabled=partial(_negated, connected),
                disabled_reason=lambda: "Already connected to it.",
            )

    # -- registering -------------------------------------------------------------

    def add(self, action: ConsoleAction) -> None:
        """Register `action`."""
        self.registry.register(action)

    def button_action(
        self,
        action_id: str,
        title: str,
        category: str,
        button: Callable[[], QAbstractButton],
        *,
        page: Callable[[], QWidget] | None = None,
        fallback: str,
        shortcuts: tuple[str, ...] = (),
        description: str = "",
        writes: bool = False,
        part: str | None = None,
        scope: str = WINDOW,
    ) -> None:
        """An action that presses `button` (after showing `page`), enabled as it is and
        while `part` (of the contract) can be used here."""
        window = self.window

        def run() -> None:
            if page is not None:
                window.tabs.setCurrentWidget(page())
            button().click()

        def usable() -> bool:
            return part is None or window.session.capabilities.allows(part)

        def reason() -> str:
            if window.session.client is None:
                return NOT_CONNECTED
            if not usable():
                assert part is not None
                return unavailable_text(window.session.capabilities, part)
            return button_reason(button(), fallback)

        self.add(
            ConsoleAction(
                action_id,
                title,
                category,
                run,
                shortcuts=shortcuts,
                description=description,
                enabled=lambda: usable() and button().isEnabled(),
                disabled_reason=reason,
                writes=writes,
                scope=scope,
            )
        )

    def register_all(self) -> None:
        """Every action of the window, in the order the palette lists them unfiltered."""
        self._window_actions()
        self._connection_actions()
        self._keys_actions()
        self._pipelines_actions()
        self._records_actions()
        self._logs_actions()

    def _window_actions(self) -> None:
        w = self.window

        def refresh_reason() -> str:
            if w.session.client is None:
                return NOT_CONNECTED
            page = w.tabs.currentWidget()
            if isinstance(page, NotOfferedPage):
                return page.headline.text()  # the tab's part cannot be used here
            return "It is loading already."

        pages = (
            ("tab.keys", "API Keys"),
            ("tab.pipelines", "Pipelines"),
            ("tab.records", "Records"),
            ("tab.logs", "Ingest Logs"),
        )
        for index, ((action_id, name), key) in enumerate(zip(pages, TAB_KEYS, strict=True)):
            self.add(
                ConsoleAction(
                    action_id,
                    f"Show the {name} tab",
                    "Window",
                    partial(_show, w, index),
                    shortcuts=(key,),
                )
            )
        self.add(
            ConsoleAction(
                "tab.next", "Next tab", "Window", lambda: w._step_tab(1), shortcuts=NEXT_TAB_KEYS
            )
        )
        self.add(
            ConsoleAction(
                "tab.previous",
                "Previous tab",
                "Window",
                lambda: w._step_tab(-1),
                shortcuts=PREVIOUS_TAB_KEYS,
            )
        )
        self.add(
            ConsoleAction(
                "filter.focus",
                "Go to the current tab's filter",
                "Window",
                w.focus_filter,
                shortcuts=standard_keys(QKeySequence.StandardKey.Find),
                description="Put the cursor in the filter of the tab shown, its text selected",
            )
        )
        self.add(
            ConsoleAction(
                "view.refresh",
                "Refresh the current tab",
                "Window",
                lambda: w.current_refresh_button().click(),
                shortcuts=REFRESH_KEYS,
                description="Load what the tab shows again from the server",
                enabled=lambda: (
                    not isinstance(w.tabs.currentWidget(), NotOfferedPage)
                    and w.current_refresh_button().isEnabled()
                ),
                disabled_reason=refresh_reason,
            )
        )
        self.add(
            ConsoleAction(
                "find_by_id",
                "Find by ID",
                "Window",
                w.focus_find,
                shortcuts=FIND_BY_ID_KEYS,
                description="Look up a request, correlation or idempotency ID, GUID or system id",
                # Disabled as the field is, where the logs cannot be read: its tooltip says why.
                enabled=lambda: w.find_field.isEnabled(),
                disabled_reason=lambda: w.find_field.toolTip() or None,
            )
        )
        self.add(
            ConsoleAction(
                "palette.open",
                "Command palette",
                "Window",
                w.open_palette,
                shortcuts=PALETTE_KEYS,
                description="Find any action by typing part of its name",
            )
        )
        self.add(
            ConsoleAction(
                "app.quit",
                "Quit",
                "Window",
                w.close,
                shortcuts=QUIT_KEYS,
                description="Close the console (asking first about unapplied edits or a "
                "running upload)",
            )
        )
        self.add(
            ConsoleAction(
                "help.shortcuts",
                "Keyboard shortcuts",
                "Window",
                w.open_shortcuts_sheet,
                shortcuts=SHEET_KEYS,
                description="The sheet of every key the console answers to",
            )
        )

    def _connection_actions(self) -> None:
        w = self.window
        protection = w.session.protection
        self.add(
            ConsoleAction(
                "profile.switch",
                "Switch connection…",
                "Connection",
                lambda: w.open_palette(only=PROFILE_PREFIX),
                description="Type a saved profile's name and press Enter to connect to it",
                enabled=lambda: bool(w.settings.profiles),
                disabled_reason=lambda: "No saved connection profiles: add one first.",
            )
        )
        self.add(
            ConsoleAction(
                "connections.manage",
                "Manage connections…",
                "Connection",
                lambda: w.manage_button.click(),
                description="Add, edit or delete connection profiles",
            )
        )
        self.add(
            ConsoleAction(
                "connection.cancel",
                "Cancel connecting",
                "Connection",
                w.cancel_connect,
                shortcuts=CANCEL_CONNECT_KEYS,
                enabled=lambda: w._connecting is not None,
                disabled_reason=lambda: "No connection attempt is under way.",
                scope="the window, when no field takes Esc",
            )
        )
        self.button_action(
            "bulk.ingest",
            "Bulk ingest…",
            "Connection",
            lambda: w.bulk_button,
            fallback=NOT_CONNECTED,
            part="ingest",
            description="Upload an NDJSON, JSON or CSV file to a feed (resumable)",
            writes=True,
            # The button's own mnemonic (&Bulk) answers Alt+B: listed, not bound again (a
            # second binding of the same key would make both ambiguous).
            shortcuts=(BULK_INGEST_KEY,),
            scope=BULK_INGEST_SCOPE,
        )
        self.add(
            ConsoleAction(
                "writes.unlock",
                "Unlock writes (15 minutes)",
                "Connection",
                protection.unlock,
                description="Allow changes on this production profile for 15 minutes",
                enabled=lambda: protection.is_protected,
                disabled_reason=lambda: "Only production profiles open read-only.",
            )
        )
        self.add(
            ConsoleAction(
                "writes.lock",
                "Lock writes",
                "Connection",
                protection.lock,
                description="End the unlock now: the profile is read-only again",
                enabled=lambda: protection.is_protected and protection.writes_allowed,
                disabled_reason=lambda: (
                    "Writes are locked already."
                    if protection.is_protected
                    else "Only production profiles open read-only."
                ),
            )
        )

    def _keys_actions(self) -> None:
        w = self.window
        tab = w.keys_tab

        def page() -> QWidget:
            return tab

        select = "Select an active key in the API Keys tab first."
        self.button_action(
            "keys.add",
            "Add a key…",
            "Keys",
            lambda: tab.add_button,
            page=page,
            fallback=NOT_CONNECTED,
            part="keys",
            writes=True,
        )
        self.button_action(
            "keys.rotate",
            "Rotate the selected key…",
            "Keys",
            lambda: tab.rotate_button,
            page=page,
            fallback=select,
            part="keys",
            description="A new secret for the selected key; the old one works for a grace period",
            writes=True,
        )
        self.button_action(
            "keys.revoke",
            "Revoke the selected key…",
            "Keys",
            lambda: tab.revoke_button,
            page=page,
            fallback=select,
            part="keys",
            writes=True,
        )

    def _pipelines_actions(self) -> None:
        w = self.window

        def page() -> QWidget:
            return w.pipelines_tab

        select = "Select a pipeline in the Pipelines tab first."
        self.button_action(
            "pipelines.new",
            "New pipeline",
            "Pipelines",
            lambda: w.pipelines_tab.new_button,
            page=page,
            fallback=NOT_CONNECTED,
            part="pipelines",
            description="Start a new pipeline in the definition editor",
            writes=True,
        )

        def apply_reason() -> str:
            if not w.session.capabilities.allows("pipelines"):
                return unavailable_text(w.session.capabilities, "pipelines")
            if w.tabs.currentWidget() is not w._pipelines_tab:
                return "Show the Pipelines tab: Apply acts on the definition shown there."
            panel = w.pipelines_tab.panel
            if not panel.is_dirty:
                return "Nothing edited to apply."
            return button_reason(panel.apply_button, "The definition has problems to fix first.")

        self.add(
            ConsoleAction(
                "pipelines.apply",
                "Apply the edited definition",
                "Pipelines",
                w.apply_definition,
                shortcuts=standard_keys(QKeySequence.StandardKey.Save),
                description="Send the definition in the editor to the server",
                enabled=lambda: (
                    w._pipelines_tab is not None
                    and w.tabs.currentWidget() is w._pipelines_tab
                    and w._pipelines_tab.panel.is_dirty
                    and w._pipelines_tab.panel.apply_button.isEnabled()
                ),
                disabled_reason=apply_reason,
                writes=True,
            )
        )
        for action_id, title, button, writes, fallback in (
            ("pipelines.start", "Start the pipeline", "start_button", True, select),
            ("pipelines.stop", "Stop the pipeline", "stop_button", True, select),
            ("pipelines.force_stop", "Force stop the pipeline…", "force_button", True, select),
            ("pipelines.archive", "Archive the pipeline…", "archive_button", True, select),
        ):
            self.button_action(
                action_id,
                title,
                "Pipelines",
                partial(_button_of, lambda: w.pipelines_tab, button),
                page=page,
                fallback=fallback,
                part="pipelines",
                writes=writes,
            )
        for action_id, title, button, fallback in (
            (
                "pipelines.import",
                "Open a definition file…",
                "open_button",
                "Select a pipeline or start a new one first.",
            ),
            ("pipelines.save_as", "Save the definition as…", "save_button", select),
            ("pipelines.diff", "Show the edits as a diff", "diff_button", "Nothing edited."),
            ("pipelines.discard", "Discard the edits", "discard_button", "Nothing edited."),
        ):
            self.button_action(
                action_id,
                title,
                "Pipelines",
                partial(_button_of, lambda: w.pipelines_tab.panel, button),
                page=page,
                fallback=fallback,
                part="pipelines",
            )

        def complete() -> None:
            w.tabs.setCurrentWidget(w.pipelines_tab)
            editor = w.pipelines_tab.panel.editor
            editor.setFocus(Qt.FocusReason.ShortcutFocusReason)
            editor.show_completions()

        self.add(
            ConsoleAction(
                "pipelines.complete",
                "Complete at the cursor",
                "Pipelines",
                complete,
                shortcuts=COMPLETION_KEYS,
                description="Offer the names that fit where the editor's cursor is",
                enabled=lambda: (
                    w.pipelines_tab.panel.editor.isEnabled()
                    and not w.pipelines_tab.panel.editor.isReadOnly()
                ),
                disabled_reason=lambda: "Select a pipeline or start a new one first.",
                scope="the definition editor",
            )
        )

    def _records_actions(self) -> None:
        w = self.window

        def page() -> QWidget:
            return w.records_tab

        feed = "Choose a feed in the Records tab first."
        record = "Select a record in the Records tab first."
        for action_id, title, button, writes, fallback in (
            ("records.new", "New record…", "new_button", True, feed),
            ("records.edit", "Edit the selected record…", "edit_button", True, record),
            ("records.archive", "Archive the selected record…", "archive_button", True, record),
            ("records.restore", "Restore the selected record…", "restore_button", True, record),
            ("records.fetch", "Trigger a fetch…", "fetch_button", True, feed),
            ("records.fetch_list", "Fetch a list of records…", "fetch_list_button", True, feed),
            ("records.import", "Import records…", "import_button", True, feed),
            ("records.export", "Export records…", "export_button", False, feed),
        ):
            self.button_action(
                action_id,
                title,
                "Records",
                partial(_button_of, lambda: w.records_tab, button),
                page=page,
                fallback=fallback,
                part="records",
                writes=writes,
            )

    def _logs_actions(self) -> None:
        w = self.window

        def page() -> QWidget:
            return w.logs_tab

        self.button_action(
            "logs.live_tail",
            "Live tail on or off",
            "Ingest Logs",
            lambda: w.logs_tab.live_button,
            page=page,
            fallback="Live tail follows ranges that end now (not a custom range).",
            part="logs",
            description="Show new log entries as they are written",
        )
        self.button_action(
            "logs.export",
            "Export the log entries shown…",
            "Ingest Logs",
            lambda: w.logs_tab.export_button,
            page=page,
            fallback="No entries shown: load a time range first.",
            part="logs",
        )

        def trace_window() -> TraceWindow | None:
            finder = w._finder
            if finder is None:
                return None
            shown = [t for t in finder.windows if t.isVisible() and t.pages()]
            return shown[-1] if shown else None

        def close_trace() -> None:
            window = trace_window()
            if window is not None:
                window.close_page_at(window.tabs.currentIndex())

        self.add(
            ConsoleAction(
                "trace.close",
                "Close the current trace",
                "Trace window",
                close_trace,
                shortcuts=TRACE_CLOSE_KEYS,
                enabled=lambda: trace_window() is not None,
                disabled_reason=lambda: "No trace is open.",
                scope="a trace window",
            )
        )
