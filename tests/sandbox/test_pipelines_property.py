"""Property: the server's verdict on any definition is the local validator's verdict."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from console.definition import Catalog, Format, validate_text
from tests.sandbox.pipeline_support import PIPELINES, catalog_of, definition, error_fields

FORMATS: tuple[Format, ...] = ("yaml", "json")
ODD_VALUES: tuple[Any, ...] = (None, True, 0, -5, 2, 1.5, "", "text", [], ["x"], {}, {"k": 1})


def mapping_slots(value: Any) -> list[tuple[dict[str, Any], str]]:
    """Every (mapping, key) pair of a document, nested ones included."""
    slots: list[tuple[dict[str, Any], str]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            slots.append((value, key))
            slots += mapping_slots(child)
    elif isinstance(value, list):
        for child in value:
            slots += mapping_slots(child)
    return slots


def all_mappings(value: Any) -> list[dict[str, Any]]:
    """Every mapping of a document, nested ones included."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        found.append(value)
        children: list[Any] = list(value.values())
    elif isinstance(value, list):
        children = value
    else:
        children = []
    for child in children:
        found += all_mappings(child)
    return found


def mutate(document: dict[str, Any], data: st.DataObject, catalog: Catalog) -> None:
    """Apply one random mutation of a kind the contract's rules are about."""
    kind = data.draw(
        st.sampled_from(
            [
                "drop_key",
                "unknown_key",
                "change_type",
                "include_and_exclude",
                "frequencies",
                "version",
                "transformation_type",
                "hook_event",
                "unknown_ids",
                "duplicate_table",
            ]
        )
    )
    if kind in ("drop_key", "change_type"):
        slots = mapping_slots(document)
        if not slots:
            return
        container, key = data.draw(st.sampled_from(slots))
        if kind == "drop_key":
            del container[key]
        else:
            container[key] = copy.deepcopy(data.draw(st.sampled_from(ODD_VALUES)))
    elif kind == "unknown_key":
        target = data.draw(st.sampled_from(all_mappings(document)))
        target[data.draw(st.sampled_from(["colour", "extra", "Name", "tables_"]))] = 1
    elif kind == "include_and_exclude":
        tables = document.get("tables")
        if isinstance(tables, list) and tables and isinstance(tables[-1], dict):
            tables[-1]["columns"] = {"include": ["id"], "exclude": ["email"]}
    elif kind == "frequencies":
        document["sync"] = data.draw(
            st.sampled_from(
                [
                    {"frequency": 60, "source_frequency": 30, "destination_frequency": 30},
                    {"source_frequency": 30},
                    {"destination_frequency": 30},
                    {"frequency": 0},
                    {"frequency": -15},
                    {},
                    {"source_frequency": 30, "destination_frequency": 120},
                ]
            )
        )
    elif kind == "version":
        document["definition_version"] = data.draw(st.sampled_from([0, 1, 2, "1", 1.0]))
    elif kind == "transformation_type":
        document["transformations"] = [
            {"type": data.draw(st.sampled_from(["toggle_case", "shout", ""])), "table": "t9"}
        ]
    elif kind == "hook_event":
        document["hooks"] = [
            {"id": min(catalog.hook_ids), "events": [data.draw(st.sampled_from(["x", "sync"]))]}
        ]
    elif kind == "unknown_ids":
        path = data.draw(st.sampled_from(["source", "destination", "hooks"]))
        if path == "hooks":
            document["hooks"] = [{"id": 10**9, "events": ["sync_failed"]}]
        else:
            document[path] = {"connection": {"id": data.draw(st.sampled_from([10**9, -1]))}}
    elif kind == "duplicate_table":
        document["tables"] = [{"name": "a"}, {"name": "a"}]


def server_verdict(api: httpx.Client, text: str, fmt: Format) -> tuple[int, str | None, set[Any]]:
    """Status, error code and error fields of POST /pipelines/validate."""
    content_type = "application/yaml" if fmt == "yaml" else "application/json"
    response = api.post(
        f"{PIPELINES}/validate", content=text.encode(), headers={"Content-Type": content_type}
    )
    if response.status_code == 200:
        assert response.json() == {"valid": True}
        return 200, None, set()
    return response.status_code, response.json()["error"]["code"], error_fields(response)


@pytest.fixture
def catalog(api: httpx.Client) -> Catalog:
    """The test account's catalogue, fetched once per test."""
    return catalog_of(api)


@settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_server_and_local_validator_agree(
    api: httpx.Client, catalog: Catalog, data: st.DataObject
) -> None:
    document: dict[str, Any] = yaml.safe_load(definition(catalog))
    for _ in range(data.draw(st.integers(min_value=0, max_value=4), label="mutations")):
        mutate(document, data, catalog)
    fmt = data.draw(st.sampled_from(FORMATS), label="format")
    text = yaml.safe_dump(document, sort_keys=False) if fmt == "yaml" else json.dumps(document)
    if data.draw(st.integers(0, 9), label="break syntax") == 0:
        text += "\n}: ["  # unparseable in either format

    local = validate_text(text, format=fmt, catalog=catalog)
    expected = (
        (200, None, set())
        if local.valid
        else (
            local.http_status,
            local.http_code,
            {problem.path or None for problem in local.errors},
        )
    )
    event(f"{expected[0]} {expected[1]}")  # the spread shows with --hypothesis-show-statistics
    assert server_verdict(api, text, fmt) == expected, text
