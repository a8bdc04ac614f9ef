"""Semantic rules: checks on a well-shaped document that shape alone cannot express.

They read the plain document built by the shape walk and consider only values of the
right type (a mistyped value already has its shape problem), so a document with shape
and semantic problems lists both.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from console.common.contract import HOOK_EVENTS
from console.definition.limits import (
    CONTROL_CHARACTERS,
    MAX_FREQUENCY,
    MAX_PIPELINE_NAME_CHARS,
    MAX_TABLE_NAME_CHARS,
    MIN_FREQUENCY,
)
from console.definition.model import Catalog, ProblemKind, Severity
from console.definition.schema import (
    DEFINITION_VERSION,
    FREQUENCY_KEYS,
    TRANSFORMATION_TYPES,
)

Part = str | int

_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")


class _Reporter(Protocol):
    def add(
        self,
        kind: ProblemKind,
        path: str,
        message: str,
        node: Node | None,
        severity: Severity = Severity.ERROR,
    ) -> None: ...


def _is_int(value: Any) -> bool:
    # `true` is a bool, and bool is an int subclass in Python: not a number here.
    return isinstance(value, int) and not isinstance(value, bool)


def path_text(parts: tuple[Part, ...]) -> str:
    """`("tables", 1, "columns")` → `tables[1].columns`."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def node_at(root: Node, parts: tuple[Part, ...]) -> tuple[Node, bool]:
    """The node at `parts`, or the deepest existing ancestor; True when found exactly."""
    node = root
    for part in parts:
        child: Node | None = None
        if isinstance(part, int):
            if isinstance(node, SequenceNode) and part < len(node.value):
                child = node.value[part]
        elif isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                # The last duplicate wins, as it does in the plain document.
                if isinstance(key_node, ScalarNode) and key_node.value == part:
                    child = value_node
        if child is None:
            return node, False
        node = child
    return node, True


class _Rules:
    def __init__(self, root: Node, catalog: Catalog | None, reporter: _Reporter) -> None:
        self.root = root
        self.catalog = catalog
        self.reporter = reporter

    def fail(self, parts: tuple[Part, ...], message: str) -> None:
        """A semantic problem at the node of `parts` (its parent mapping when absent)."""
        node, _ = node_at(self.root, parts)
        self.reporter.add(ProblemKind.SEMANTICS, path_text(parts), message, node)

    def version(self, document: dict[str, Any]) -> None:
        version = document.get("definition_version")
        if _is_int(version) and version != DEFINITION_VERSION:
            self.fail(
                ("definition_version",),
                f"definition_version {version} is not supported; use {DEFINITION_VERSION}",
            )
        name = document.get("name")
        if isinstance(name, str):
            if not name.strip():
                self.fail(("name",), "name must not be empty")
            else:
                self.name_rules(("name",), name, MAX_PIPELINE_NAME_CHARS)

    def name_rules(self, parts: tuple[Part, ...], name: str, longest: int) -> None:
        """A name fits a list row and a log line: bounded, no control characters."""
        if len(name) > longest:
            self.fail(
                parts, f"{path_text(parts)} must be at most {longest} characters, not {len(name)}"
            )
        if _CONTROL.search(name):
            self.fail(parts, f"{path_text(parts)} must not contain control characters")

    def connections(self, document: dict[str, Any]) -> None:
        if self.catalog is None:
            return  # the offline linter knows no connections
        roles = {
            "source": self.catalog.source_connection_ids,
            "destination": self.catalog.destination_connection_ids,
        }
        for role, ids in roles.items():
            end = document.get(role)
            connection = end.get("connection") if isinstance(end, dict) else None
            conn_id = connection.get("id") if isinstance(connection, dict) else None
            if not _is_int(conn_id) or conn_id in ids:
                continue
            other = "destination" if role == "source" else "source"
            if conn_id in roles[other]:
                message = (
                    f"connection {conn_id} is a {other} connection; "
                    f"{role}.connection.id needs a {role} connection"
                )
            else:
                message = f"{role} connection {conn_id} does not exist"
            self.fail((role, "connection", "id"), message)

    def sync(self, document: dict[str, Any]) -> None:
        sync = document.get("sync")
        if not isinstance(sync, dict):
            return
        present = [key for key in FREQUENCY_KEYS if key in sync]
        frequency, source, destination = (key in sync for key in FREQUENCY_KEYS)
        if frequency and (source or destination):
            self.fail(
                ("sync", "frequency"),
                "use either frequency, or source_frequency and destination_frequency, not both",
            )
        elif source != destination:
            have, lack = (
                ("source_frequency", "destination_frequency")
                if source
                else ("destination_frequency", "source_frequency")
            )
            self.fail(("sync", lack), f"{have} needs {lack} as well (or use frequency alone)")
        elif not present:
            self.fail(
                ("sync", "frequency"),
                "sync needs frequency, or both source_frequency and destination_frequency",
            )
        for key in present:
            value = sync[key]
            if _is_int(value) and not MIN_FREQUENCY <= value <= MAX_FREQUENCY:
                self.fail(
                    ("sync", key),
                    f"{key} must be from {MIN_FREQUENCY} to {MAX_FREQUENCY:,} minutes "
                    f"(one year), got {value}",
                )

    def tables(self, document: dict[str, Any]) -> set[str] | None:
        tables = document.get("tables")
        names: dict[str, int] = {}
        if not isinstance(tables, list):
            return None  # unknown: do not blame every transformation for it
        if not tables:
            self.fail(("tables",), "tables must list at least one table")
        for i, table in enumerate(tables):
            if not isinstance(table, dict):
                continue
            name = table.get("name")
            if isinstance(name, str):
                if name.strip():
                    self.name_rules(("tables", i, "name"), name, MAX_TABLE_NAME_CHARS)
                if not name.strip():
                    self.fail(("tables", i, "name"), "a table name must not be empty")
                elif name in names:
                    self.fail(
                        ("tables", i, "name"),
                        f"duplicate table {name!r} (already tables[{names[name]}])",
                    )
                else:
                    names[name] = i
            columns = table.get("columns")
            if isinstance(columns, dict) and "include" in columns and "exclude" in columns:
                self.fail(
                    ("tables", i, "columns"), "use either include or exclude in columns, not both"
                )
        return set(names)

    def transformations(self, document: dict[str, Any], table_names: set[str] | None) -> None:
        items = document.get("transformations")
        if not isinstance(items, list):
            return
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            kind = item.get("type")
            if isinstance(kind, str) and kind not in TRANSFORMATION_TYPES:
                self.fail(
                    ("transformations", i, "type"),
                    f"unknown transformation type {kind!r}; use one of "
                    + ", ".join(TRANSFORMATION_TYPES),
                )
            table = item.get("table")
            if isinstance(table, str) and table_names is not None and table not in table_names:
                self.fail(("transformations", i, "table"), f"table {table!r} is not in tables")

    def hooks(self, document: dict[str, Any]) -> None:
        hooks = document.get("hooks")
        if not isinstance(hooks, list):
            return
        for i, hook in enumerate(hooks):
            if not isinstance(hook, dict):
                continue
            hook_id = hook.get("id")
            known = self.catalog.hook_ids if self.catalog is not None else None
            if known is not None and _is_int(hook_id) and hook_id not in known:
                self.fail(("hooks", i, "id"), f"hook {hook_id} does not exist")
            events = hook.get("events")
            if not isinstance(events, list):
                continue
            if not events:
                self.fail(("hooks", i, "events"), "events must list at least one event")
            for j, event in enumerate(events):
                if isinstance(event, str) and event not in HOOK_EVENTS:
                    self.fail(
                        ("hooks", i, "events", j),
                        f"unknown hook event {event!r}; use one of " + ", ".join(HOOK_EVENTS),
                    )


def check_semantics(
    document: dict[str, Any], root: Node, catalog: Catalog | None, reporter: _Reporter
) -> None:
    """Report every semantic problem of a plain document through `reporter`."""
    rules = _Rules(root, catalog, reporter)
    rules.version(document)
    rules.connections(document)
    rules.sync(document)
    table_names = rules.tables(document)
    rules.transformations(document, table_names)
    rules.hooks(document)
