"""Where problems are reported: line and column (1-based code points) at the offending node."""

from __future__ import annotations

import json

import pytest
import yaml

from console.definition import MINIMAL_EXAMPLE_YAML, Format, ProblemKind, validate_text
from tests.definition.support import full, render

YAML_WITH_UNKNOWN_KEY_ON_LINE_14 = """\
definition_version: 1
name: Orders to warehouse
source:
  connection:
    id: 1
destination:
  connection:
    id: 5
sync:
  frequency: 60
tables:
  - name: public.orders
    append_only: true
    colour: blue
"""


def test_an_unknown_key_is_reported_at_the_key() -> None:
    (problem,) = validate_text(YAML_WITH_UNKNOWN_KEY_ON_LINE_14).problems
    assert (problem.line, problem.column) == (14, 5)
    assert problem.path == "tables[0].colour"
    assert problem.message == "unknown key 'colour'"


def test_a_missing_key_is_reported_at_its_parent_mapping() -> None:
    text = MINIMAL_EXAMPLE_YAML.replace("    id: 5\n", "    name: warehouse\n")
    problems = validate_text(text).problems
    missing = next(p for p in problems if p.path == "destination.connection.id")
    assert (missing.line, missing.column) == (8, 5)  # the `connection` mapping's first key
    assert missing.message == "missing required key 'id'"


def test_a_wrong_type_is_reported_at_the_value() -> None:
    text = MINIMAL_EXAMPLE_YAML.replace("frequency: 60", "frequency: hourly")
    (problem,) = validate_text(text).problems
    assert (problem.line, problem.column, problem.path) == (10, 14, "sync.frequency")
    assert problem.message == "expected an integer, got a string"


def test_include_with_exclude_is_reported_at_the_columns_mapping() -> None:
    text = (
        MINIMAL_EXAMPLE_YAML + "  - name: b\n    columns:\n      include: [a]\n      exclude: [b]\n"
    )
    (problem,) = validate_text(text).problems
    assert (problem.line, problem.column, problem.path) == (15, 7, "tables[1].columns")


def test_yaml_parse_error_gives_line_and_column_in_message_and_position() -> None:
    text = "definition_version: 1\nname: x\nsync: {frequency: 60\ntables: []\n"
    (problem,) = validate_text(text).problems
    assert problem.kind is ProblemKind.PARSE
    assert problem.path == ""
    assert problem.message.startswith(f"line {problem.line}, column {problem.column}: ")
    assert problem.line == 4


def test_yaml_tab_indentation_parse_error_points_at_the_tab() -> None:
    (problem,) = validate_text("a: 1\nb:\n\tc: 2\n").problems
    assert problem.kind is ProblemKind.PARSE
    assert (problem.line, problem.column) == (3, 1)
    assert problem.message.startswith("line 3, column 1: ")


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ('{\n  "name": "x",\n  "sync": }\n', 3, 11),
        ('{\n  "name": "x"\n  "sync": {}\n}', 3, 3),
        ('{"name": "x",}', 1, 14),
        ('{"name": "x"} extra', 1, 15),
        ('{"name": "unterminated', 1, 10),
        ('{"a": [1, 2\n', 2, 1),
        ('{"a": NaN}', 1, 7),
        ('{"a": 01}', 1, 8),
    ],
)
def test_json_parse_errors_give_line_and_column(text: str, line: int, column: int) -> None:
    (problem,) = validate_text(text).problems
    assert problem.kind is ProblemKind.PARSE
    assert (problem.line, problem.column) == (line, column), problem.message
    assert problem.message.startswith(f"line {line}, column {column}: ")
    assert validate_text(text).http_code == "INVALID_PAYLOAD"


def test_a_control_character_is_a_parse_error_at_its_position() -> None:
    (problem,) = validate_text("a: 1\nb: x\x07y\n").problems
    assert problem.kind is ProblemKind.PARSE
    assert (problem.line, problem.column) == (2, 5)


def test_json_positions_match_the_keys_and_values() -> None:
    document = full()
    document["tables"][1]["colour"] = "red"
    document["sync"]["frequency"] = "60"
    text = json.dumps(document, indent=2)
    lines = text.splitlines()
    result = validate_text(text)
    by_path = {p.path: p for p in result.problems}
    colour = by_path["tables[1].colour"]
    assert lines[colour.line - 1][colour.column - 1 :].startswith('"colour"')
    frequency = by_path["sync.frequency"]
    assert lines[frequency.line - 1][frequency.column - 1 :].startswith('"60"')


def test_an_escaped_json_key_is_located_at_its_opening_quote() -> None:
    text = '{"definition_version": 1,\n "col\\u006fur": 1}'
    problems = {p.path: p for p in validate_text(text).problems}
    assert (problems["colour"].line, problems["colour"].column) == (2, 2)


@pytest.mark.parametrize(
    ("fmt", "template", "column"),
    [
        ("yaml", "tables:\n  - {name: NAME, colour: 1}\n", 16),
        ("json", '{"tables": [{"name": "NAME", "colour": 1}]}', 28),
    ],
)
def test_emoji_before_a_problem_does_not_shift_its_column(
    fmt: Format, template: str, column: int
) -> None:
    # "ab" and "😀🎉" are both 2 code points (but 2 and 4 UTF-16 units, 2 and 8 bytes).
    for name in ("ab", "😀🎉"):
        result = validate_text(template.replace("NAME", name), format=fmt)
        problem = next(p for p in result.problems if p.path == "tables[0].colour")
        assert (problem.line, problem.column) == (2 if fmt == "yaml" else 1, column), name


def test_every_problem_is_listed_not_only_the_first() -> None:
    text = """\
definition_version: 2
name: Orders
source:
  connection:
    id: 1
destination:
  connection: {}
sync:
  frequency: 60
  source_frequency: 10
tables:
  - name: orders
    colour: red
"""
    result = validate_text(text)
    assert [(p.line, p.kind.value, p.path) for p in result.problems] == [
        (1, "semantics", "definition_version"),
        (7, "shape", "destination.connection.id"),
        (9, "semantics", "sync.frequency"),
        (13, "shape", "tables[0].colour"),
    ]


def test_the_pure_python_loader_gives_the_same_positions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where libyaml is missing, parsing falls back to SafeLoader (STACK_NOTES point 8)."""
    from console.definition import parsing

    texts = [YAML_WITH_UNKNOWN_KEY_ON_LINE_14, "tables:\n  - {name: 😀🎉, colour: 1}\n"]
    with_c = [validate_text(text).problems for text in texts]
    monkeypatch.setattr(parsing, "_LOADER", yaml.SafeLoader)
    pure = [validate_text(text).problems for text in texts]
    for c_problems, pure_problems in zip(with_c, pure, strict=True):
        assert [(p.path, p.line, p.column, p.kind) for p in pure_problems] == [
            (p.path, p.line, p.column, p.kind) for p in c_problems
        ]
    # Syntax errors are found by either parser, though each may blame a different spot.
    (problem,) = validate_text("a: [1,\nb: 2").problems
    assert problem.kind is ProblemKind.PARSE
    assert problem.message.startswith(f"line {problem.line}, column {problem.column}: ")


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_scalar_problems_carry_their_end_for_underlining(fmt: Format) -> None:
    document = full()
    document["tables"][0]["colour"] = "red"
    document["sync"]["frequency"] = -15
    document["hooks"][0]["events"][1] = "sync_exploded"
    text = render(document, fmt)
    lines = text.splitlines()
    for problem in validate_text(text, format=fmt).problems:
        assert problem.end_line == problem.line
        assert problem.end_column is not None
        underlined = lines[problem.line - 1][problem.column - 1 : problem.end_column - 1]
        assert underlined.strip('"') in ("colour", "-15", "sync_exploded")
    missing = validate_text(MINIMAL_EXAMPLE_YAML.replace("    id: 5\n", "    x: 5\n")).problems
    assert [p.end_line for p in missing if p.message.startswith("missing")] == [None]
