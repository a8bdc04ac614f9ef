"""The shared vocabulary of definition validation: problems, catalogue, results.

The editor, the sandbox server and the `validate` command all speak it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How bad a problem is. Errors block create/apply; warnings do not."""

    ERROR = "error"
    WARNING = "warning"


class ProblemKind(StrEnum):
    """Which status class a problem maps to on the server (PLATFORM_API.md, Pipelines)."""

    PARSE = "parse"  # body not parseable: 400 INVALID_PAYLOAD
    SHAPE = "shape"  # unknown keys, missing required keys, wrong types: 422 UNPROCESSABLE
    SEMANTICS = "semantics"  # well-shaped but invalid: 400 VALIDATION_FAILED

    @property
    def http_status(self) -> int:
        """The HTTP status of this class."""
        return 422 if self is ProblemKind.SHAPE else 400

    @property
    def code(self) -> str:
        """The contract's error code of this class."""
        return {
            ProblemKind.PARSE: "INVALID_PAYLOAD",
            ProblemKind.SHAPE: "UNPROCESSABLE",
            ProblemKind.SEMANTICS: "VALIDATION_FAILED",
        }[self]


@dataclass(frozen=True)
class Problem:
    """One problem of a definition document.

    `line` and `column` are 1-based and count Unicode code points (the editor converts
    to UTF-16 positions). `path` is the contract's field path, e.g. `tables[1].columns`
    (empty for the whole document).
    """

    path: str
    message: str
    line: int
    column: int
    kind: ProblemKind
    severity: Severity = Severity.ERROR
    end_line: int | None = None
    end_column: int | None = None

    @property
    def message_after_position(self) -> str:
        """The message without its own "line L, column C: " lead, for views that show the
        position beside it (the server's parse errors must carry it in the message)."""
        said_twice = f"line {self.line}, column {self.column}: "
        if self.message.startswith(said_twice):
            return self.message[len(said_twice) :]
        return self.message

    def format_for_lint(self, filename: str) -> str:
        """`FILE:LINE:COL: severity: message [field]`, the `validate` command's line."""
        suffix = f" [{self.path}]" if self.path else ""
        return (
            f"{filename}:{self.line}:{self.column}: {self.severity.value}: "
            f"{self.message_after_position}{suffix}"
        )


@dataclass(frozen=True)
class Catalog:
    """What the account has: connection ids by role, hook ids. None skips those checks."""

    source_connection_ids: frozenset[int] = frozenset()
    destination_connection_ids: frozenset[int] = frozenset()
    hook_ids: frozenset[int] = frozenset()

    @classmethod
    def of(cls, connections: Iterable[tuple[int, str]], hook_ids: Iterable[int]) -> Catalog:
        """From the account's connections as (id, role) pairs and its hook ids."""
        pairs = list(connections)
        return cls(
            source_connection_ids=frozenset(i for i, role in pairs if role == "source"),
            destination_connection_ids=frozenset(i for i, role in pairs if role == "destination"),
            hook_ids=frozenset(hook_ids),
        )


@dataclass(frozen=True)
class ValidationResult:
    """Every problem found, and the parsed document when it could be parsed."""

    problems: tuple[Problem, ...]
    document: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> tuple[Problem, ...]:
        """Only the problems that block create and apply."""
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)

    @property
    def valid(self) -> bool:
        """No error-severity problem."""
        return not self.errors

    @property
    def http_status(self) -> int | None:
        """The server's status: 400 unparseable, else 422 for shape, else 400 semantics."""
        kind = self._deciding_kind()
        return None if kind is None else kind.http_status

    @property
    def http_code(self) -> str | None:
        """The contract's `error.code` that goes with `http_status`."""
        kind = self._deciding_kind()
        return None if kind is None else kind.code

    def _deciding_kind(self) -> ProblemKind | None:
        kinds = {p.kind for p in self.errors}
        for kind in (ProblemKind.PARSE, ProblemKind.SHAPE, ProblemKind.SEMANTICS):
            if kind in kinds:
                return kind
        return None
