"""One test per rule of the contract (PLATFORM_API.md, Pipelines), each in YAML and JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from console.definition import MINIMAL_EXAMPLE_YAML, ProblemKind, validate_text
from tests.definition.support import CATALOG, full, minimal, render, verdicts

Mutation = Callable[[dict[str, Any]], None]
SHAPE, SEMANTICS = "shape", "semantics"


def _set(*parts: Any, value: Any) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        target = document
        for part in parts[:-1]:
            target = target[part]
        target[parts[-1]] = value

    return mutate


def _delete(*parts: Any) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        target = document
        for part in parts[:-1]:
            target = target[part]
        del target[parts[-1]]

    return mutate


def _both(first: Mutation, second: Mutation) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        first(document)
        second(document)

    return mutate


# (rule, mutation of the full valid document, expected (kind, path) problems)
CASES: list[tuple[str, Mutation, list[tuple[str, str]]]] = [
    ("unknown top-level key", _set("colour", value="blue"), [(SHAPE, "colour")]),
    ("unknown key in a table", _set("tables", 0, "colour", value="x"),
     [(SHAPE, "tables[0].colour")]),
    ("unknown key deep down", _set("source", "connection", "name", value="pg"),
     [(SHAPE, "source.connection.name")]),
    ("unknown key in a hook", _set("hooks", 0, "url", value="x"), [(SHAPE, "hooks[0].url")]),
    ("missing name", _delete("name"), [(SHAPE, "name")]),
    ("missing definition_version", _delete("definition_version"), [(SHAPE, "definition_version")]),
    ("missing source", _delete("source"), [(SHAPE, "source")]),
    ("missing destination", _delete("destination"), [(SHAPE, "destination")]),
    ("missing sync", _delete("sync"), [(SHAPE, "sync")]),
    ("missing tables", _delete("tables"), [(SHAPE, "tables")]),
    ("missing connection id", _delete("source", "connection", "id"),
     [(SHAPE, "source.connection.id")]),
    ("missing destination connection", _delete("destination", "connection"),
     [(SHAPE, "destination.connection")]),
    ("missing table name", _delete("tables", 2, "name"), [(SHAPE, "tables[2].name")]),
    ("string where int", _set("sync", "frequency", value="60"), [(SHAPE, "sync.frequency")]),
    ("float where int", _set("sync", "frequency", value=1.5), [(SHAPE, "sync.frequency")]),
    ("true is not an int", _set("definition_version", value=True), [(SHAPE, "definition_version")]),
    ("int where string", _set("name", value=5), [(SHAPE, "name")]),
    ("null where string", _set("name", value=None), [(SHAPE, "name")]),
    ("list where mapping", _set("source", value=[1]), [(SHAPE, "source")]),
    ("mapping where list", _set("tables", value={"name": "x"}), [(SHAPE, "tables")]),
    ("string where bool", _set("tables", 0, "append_only", value="yes"),
     [(SHAPE, "tables[0].append_only")]),
    ("int where bool", _set("sync", "auto_sync_new_tables", value=1),
     [(SHAPE, "sync.auto_sync_new_tables")]),
    ("include not a list", _set("tables", 0, "columns", "include", value="id"),
     [(SHAPE, "tables[0].columns.include")]),
    ("include item not a string", _set("tables", 0, "columns", "include", value=["id", 3]),
     [(SHAPE, "tables[0].columns.include[1]")]),
    ("config not a mapping", _set("transformations", 0, "config", value=["x"]),
     [(SHAPE, "transformations[0].config")]),
    ("hook id not an int", _set("hooks", 0, "id", value="1"), [(SHAPE, "hooks[0].id")]),
    ("missing hook events", _delete("hooks", 0, "events"), [(SHAPE, "hooks[0].events")]),
    ("missing transformation type", _delete("transformations", 0, "type"),
     [(SHAPE, "transformations[0].type")]),
    ("missing transformation table", _delete("transformations", 1, "table"),
     [(SHAPE, "transformations[1].table")]),
    ("definition_version 2", _set("definition_version", value=2),
     [(SEMANTICS, "definition_version")]),
    ("empty name", _set("name", value=""), [(SEMANTICS, "name")]),
    ("frequency with source_frequency", _set("sync", "source_frequency", value=30),
     [(SEMANTICS, "sync.frequency")]),
    ("frequency with destination_frequency", _set("sync", "destination_frequency", value=30),
     [(SEMANTICS, "sync.frequency")]),
    ("only source_frequency", _set("sync", value={"source_frequency": 30}),
     [(SEMANTICS, "sync.destination_frequency")]),
    ("only destination_frequency", _set("sync", value={"destination_frequency": 30}),
     [(SEMANTICS, "sync.source_frequency")]),
    ("no frequency at all", _set("sync", value={"auto_sync_new_tables": True}),
     [(SEMANTICS, "sync.frequency")]),
    ("zero frequency", _set("sync", "frequency", value=0), [(SEMANTICS, "sync.frequency")]),
    ("negative frequency", _set("sync", value={"source_frequency": -5, "destination_frequency": 5}),
     [(SEMANTICS, "sync.source_frequency")]),
    ("empty tables", _both(_set("tables", value=[]), _delete("transformations")),
     [(SEMANTICS, "tables")]),
    ("empty table name", _set("tables", 2, "name", value=" "), [(SEMANTICS, "tables[2].name")]),
    ("include with exclude", _set("tables", 1, "columns", "include", value=["id"]),
     [(SEMANTICS, "tables[1].columns")]),
    ("duplicate table", _set("tables", 2, "name", value="public.orders"),
     [(SEMANTICS, "tables[2].name")]),
    ("unknown transformation type", _set("transformations", 1, "type", value="uppercase"),
     [(SEMANTICS, "transformations[1].type")]),
    ("transformation of a table not in tables", _set("transformations", 0, "table", value="x.y"),
     [(SEMANTICS, "transformations[0].table")]),
    ("unknown hook event",
     _set("hooks", 0, "events", value=["sync_failed", "pipeline_failed", "sync_exploded"]),
     [(SEMANTICS, "hooks[0].events[2]")]),
    ("empty hook events", _set("hooks", 0, "events", value=[]), [(SEMANTICS, "hooks[0].events")]),
]  # fmt: skip


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize(("rule", "mutate", "expected"), CASES, ids=[c[0] for c in CASES])
def test_rule(fmt: str, rule: str, mutate: Mutation, expected: list[tuple[str, str]]) -> None:
    document = full()
    mutate(document)
    result = validate_text(render(document, fmt), format=fmt, catalog=CATALOG)  # type: ignore[arg-type]
    assert verdicts(result) == expected, rule
    expected_status = 422 if expected[0][0] == SHAPE else 400
    assert result.http_status == expected_status


def test_the_minimal_example_and_the_full_document_are_valid() -> None:
    for text in (MINIMAL_EXAMPLE_YAML, render(full(), "yaml"), render(full(), "json")):
        result = validate_text(text, catalog=CATALOG)
        assert result.problems == ()
        assert result.valid
        assert result.http_status is None
        assert result.http_code is None
    assert validate_text(MINIMAL_EXAMPLE_YAML).valid  # offline: no catalogue


def test_source_and_destination_frequency_together_are_valid() -> None:
    document = full()
    document["sync"] = {"source_frequency": 15, "destination_frequency": 60}
    assert validate_text(render(document, "yaml"), catalog=CATALOG).valid


def test_definition_version_message_names_the_supported_version() -> None:
    document = minimal()
    document["definition_version"] = 2
    (problem,) = validate_text(render(document, "yaml")).problems
    assert problem.message == "definition_version 2 is not supported; use 1"
    assert problem.kind is ProblemKind.SEMANTICS


@pytest.mark.parametrize(
    ("role", "conn_id", "says"),
    [
        ("source", 99, "source connection 99 does not exist"),
        ("source", 5, "connection 5 is a destination connection"),
        ("destination", 2, "connection 2 is a source connection"),
        ("destination", 42, "destination connection 42 does not exist"),
    ],
)
def test_connections_must_exist_with_their_role(role: str, conn_id: int, says: str) -> None:
    document = minimal()
    document[role]["connection"]["id"] = conn_id
    text = render(document, "yaml")
    (problem,) = validate_text(text, catalog=CATALOG).problems
    assert (problem.kind, problem.path) == (ProblemKind.SEMANTICS, f"{role}.connection.id")
    assert says in problem.message
    assert validate_text(text).valid  # the offline linter skips the check


def test_hooks_must_exist_in_the_catalogue() -> None:
    document = full()
    document["hooks"][0]["id"] = 77
    text = render(document, "yaml")
    result = validate_text(text, catalog=CATALOG)
    assert verdicts(result) == [(SEMANTICS, "hooks[0].id")]
    assert result.problems[0].message == "hook 77 does not exist"
    assert result.http_status == 400
    assert result.http_code == "VALIDATION_FAILED"
    assert validate_text(text).valid


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "", "# only a comment\n", "[1]"])
def test_a_document_that_is_not_a_mapping_is_a_shape_problem(text: str) -> None:
    result = validate_text(text)
    assert verdicts(result) == [(SHAPE, "")]
    assert result.document is None
    assert result.http_status == 422


@pytest.mark.parametrize(
    "text",
    [
        MINIMAL_EXAMPLE_YAML + "name: again\n",
        '{"definition_version": 1, "name": "a", "name": "b"}',
    ],
)
def test_duplicate_keys_are_shape_problems(text: str) -> None:
    result = validate_text(text)
    assert (SHAPE, "name") in verdicts(result)
    assert any(p.message == "duplicate key 'name'" for p in result.problems)


def test_shape_and_semantic_problems_are_all_listed_and_answer_422() -> None:
    document = full()
    document["colour"] = "red"  # shape
    document["definition_version"] = 3  # semantics
    document["tables"][1]["columns"]["include"] = ["id"]  # semantics
    result = validate_text(render(document, "yaml"), catalog=CATALOG)
    assert sorted(verdicts(result)) == [
        (SEMANTICS, "definition_version"),
        (SEMANTICS, "tables[1].columns"),
        (SHAPE, "colour"),
    ]
    assert (result.http_status, result.http_code) == (422, "UNPROCESSABLE")


def test_only_semantic_problems_answer_400_validation_failed() -> None:
    document = minimal()
    document["sync"]["frequency"] = 0
    result = validate_text(render(document, "json"))
    assert (result.http_status, result.http_code) == (400, "VALIDATION_FAILED")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("a: 1\nb: !!python/object:os.system x\n", "unsupported tag"),
        ("a: 1\n? [x, y]\n: 2\n", "keys must be strings"),
        ("base: &b {x: 1}\nother:\n  <<: *b\n", "merge keys"),
        ("a: 1\n7: seven\n", "keys must be strings"),
    ],
)
def test_yaml_only_constructs_are_shape_problems(text: str, says: str) -> None:
    result = validate_text(MINIMAL_EXAMPLE_YAML + text)
    assert result.problems
    assert all(p.kind is ProblemKind.SHAPE for p in result.problems)
    assert any(says in p.message for p in result.problems)


def test_an_alias_bomb_is_refused_not_expanded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    (problem,) = validate_text("\n".join(lines) + "\n").problems
    assert problem.kind is ProblemKind.PARSE
    assert "expands" in problem.message


@pytest.mark.parametrize(("source", "destination"), [(5, 1), (5444, 5), (1, 1), (12, 123)])
def test_minimal_example_names_exactly_the_given_connections(source: int, destination: int) -> None:
    from console.definition import minimal_example

    document = validate_text(minimal_example(source, destination)).document
    assert document is not None
    assert document["source"]["connection"]["id"] == source
    assert document["destination"]["connection"]["id"] == destination


def test_a_json_lone_surrogate_is_a_parse_problem_not_a_valid_string() -> None:
    broken = '{"definition_version": 1, "name": "bad \\ud83d"}'
    result = validate_text(broken, format="json")
    assert result.http_status == 400
    assert result.http_code == "INVALID_PAYLOAD"
    assert "surrogate" in result.problems[0].message
    paired = validate_text('{"name": "rocket \\ud83d\\ude80"}', format="json")
    assert all(p.kind is not ProblemKind.PARSE for p in paired.problems)


def test_catalog_of_sorts_connections_by_role() -> None:
    from console.definition import Catalog

    catalog = Catalog.of([(1, "source"), (5, "destination"), (2, "source")], [3, 4])
    assert catalog.source_connection_ids == {1, 2}
    assert catalog.destination_connection_ids == {5}
    assert catalog.hook_ids == {3, 4}
