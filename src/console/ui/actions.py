"""Every action of the app in one registry: the command palette, the F1 shortcuts sheet
and the window's shortcuts are all generated from it, so they can never drift apart.

An action is registered once (`MainWindow.action_registry.register(...)`) with a stable id, the
title the palette shows, its category, its key sequences (portable text such as
"Ctrl+Shift+P"; empty when it has none) and what it does. `enabled()` says whether it can
run now; `disabled_reason()` says why not (shown in the palette, e.g. read-only production).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol


def _always() -> bool:
    return True


def _no_reason() -> str | None:
    return None


@dataclass(frozen=True)
class ConsoleAction:
    """One thing the user can do, wherever it is offered."""

    id: str  # stable, dotted: "keys.rotate", "tab.records", "writes.unlock"
    title: str  # what the palette lists: "Rotate the selected key"
    category: str  # "Keys", "Pipelines", "Records", "Ingest Logs", "Window", "Connection"
    run: Callable[[], object]
    shortcuts: tuple[str, ...] = ()  # portable text ("Ctrl+Shift+P"); the first is shown
    description: str = ""
    enabled: Callable[[], bool] = field(default=_always)
    disabled_reason: Callable[[], str | None] = field(default=_no_reason)
    writes: bool = False  # refused on a locked production profile
    # Where the keys work. WINDOW: the main window binds a shortcut for each (from
    # anywhere in it). Any other text names the one place that handles the keys itself
    # ("the definition editor", "a trace window"): listed, never bound by the window.
    scope: str = "window"


WINDOW = "window"


class WriteGateLike(Protocol):
    """What an action's write check reads (`console.ui.protection.WriteGate`)."""

    @property
    def writes_allowed(self) -> bool: ...

    def refusal(self) -> str | None: ...


def refusal_of(action: ConsoleAction, gate: WriteGateLike) -> str | None:
    """Why `action` cannot run now (None: it can): writes refused first, then its own reason."""
    if action.writes and not gate.writes_allowed:
        return gate.refusal() or "Writes are locked for this profile."
    if not action.enabled():
        return action.disabled_reason() or "Not available now."
    return None


class ActionRegistry:
    """The app's actions by id, in registration order."""

    def __init__(self) -> None:
        self._actions: dict[str, ConsoleAction] = {}

    def register(self, action: ConsoleAction) -> ConsoleAction:
        """Add `action`; an id is registered once."""
        if action.id in self._actions:
            raise ValueError(f"action {action.id!r} is already registered")
        self._actions[action.id] = action
        return action

    def get(self, action_id: str) -> ConsoleAction:
        """The action with `action_id` (KeyError when there is none)."""
        return self._actions[action_id]

    def __iter__(self) -> Iterator[ConsoleAction]:
        return iter(list(self._actions.values()))

    def __len__(self) -> int:
        return len(self._actions)

    def __contains__(self, action_id: object) -> bool:
        return action_id in self._actions
