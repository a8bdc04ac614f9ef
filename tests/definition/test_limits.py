"""The limits every definition is held to: numbers, nesting, aliases, size (docs/pipelines.md).

The same cases run against the server's four definition routes (tests/sandbox/
test_pipelines_limits.py) and the `validate` command (tests/test_validate_command.py).
"""

from __future__ import annotations

import json
import math
import re

import pytest
import yaml

from console.definition import (
    ProblemKind,
    canonical_json,
    definition_json_schema,
    dump_json,
    parse_text,
    validate_text,
)
from console.definition.limits import MAX_DEPTH, MAX_DOCUMENT_BYTES, MAX_FREQUENCY
from tests.definition.limit_cases import (
    BAD_CASES,
    GOOD_CASES,
    LAUGHS_YAML,
    POSITIONS,
    YAML_TEMPLATE,
    Case,
)
from tests.definition.support import minimal

_KIND_ORDER = {ProblemKind.PARSE: 0, ProblemKind.SHAPE: 1, ProblemKind.SEMANTICS: 2}


@pytest.mark.parametrize("case", BAD_CASES + GOOD_CASES, ids=lambda case: case.id)
def test_each_limit_gives_the_servers_verdict_at_the_field(case: Case) -> None:
    result = validate_text(case.text(), format=case.format)
    assert (result.http_status or 200, result.http_code or "") == (case.status, case.code)
    if case.valid:
        assert result.document is not None
        json.loads(canonical_json(result.document))  # strict JSON: it can be stored
        return
    leading = sorted(result.errors, key=lambda problem: _KIND_ORDER[problem.kind])[0]
    assert (leading.path or None) == case.field
    if case.field is not None:
        assert (leading.line, leading.column) == POSITIONS[(case.format, case.field)]
    else:  # a parse problem: its message gives the position too
        assert leading.message.startswith(f"line {leading.line}, column {leading.column}: ")


def test_the_11_byte_recursive_aliases_are_parse_errors_at_their_node() -> None:
    for text in ("a: &a [*a]", "x: &x {y: *x}"):
        assert len(text) <= 13
        (problem,) = validate_text(text).problems
        assert problem.kind is ProblemKind.PARSE
        assert (problem.line, problem.column) == (1, 4)
        assert "recursive alias" in problem.message


def test_the_cancellable_composer_gets_the_same_verdicts() -> None:
    """The editor's worker composes event by event; the limits hold there too."""
    for case in BAD_CASES + GOOD_CASES:
        if case.format != "yaml":
            continue
        plain = validate_text(case.text())
        editor = validate_text(case.text(), should_stop=lambda: False)
        assert [(p.kind, p.path, p.line, p.column) for p in editor.problems] == [
            (p.kind, p.path, p.line, p.column) for p in plain.problems
        ], case.id


def test_without_libyaml_the_python_loader_gets_the_same_verdicts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PyYAML's own composer recurses per level: the fallback composes iteratively."""
    import console.definition.parsing as parsing

    expected = {case.id: validate_text(case.text()).http_status for case in BAD_CASES}
    monkeypatch.setattr(parsing, "_LOADER", yaml.SafeLoader)
    monkeypatch.setattr(parsing, "_HAS_LIBYAML", False)
    for case in BAD_CASES + GOOD_CASES:
        if case.format == "yaml" and "past-libyaml" not in case.id:
            result = validate_text(case.text())
            assert (result.http_status or 200) == case.status, case.id
            assert result.http_status == expected.get(case.id), case.id
    # Past libyaml's limit the Python parser goes on; the depth limit still answers.
    (problem,) = validate_text("[" * 5000 + "]" * 5000).problems
    assert "more than 64 levels" in problem.message


def test_an_18_6_kb_text_that_expands_to_1_79_mb_is_refused() -> None:
    text = YAML_TEMPLATE.replace("@SOURCE@", "1").replace("@DESTINATION@", "5")
    text = text.replace("@FREQUENCY@", "60").replace("@X@", LAUGHS_YAML).replace("@NAME@", "Limits")
    expanded = json.dumps(yaml.safe_load(text))  # what storing it would have meant
    assert 18_000 < len(text.encode()) < 19_000
    assert len(expanded) > 1_780_000
    (problem,) = validate_text(text).problems
    assert problem.kind is ProblemKind.PARSE
    assert "expands" in problem.message
    assert problem.line == 18


def test_aliases_that_stay_under_the_limit_are_accepted() -> None:
    half = "x" * (MAX_DOCUMENT_BYTES // 4)
    text = YAML_TEMPLATE.replace("@SOURCE@", "1").replace("@DESTINATION@", "5")
    text = text.replace("@FREQUENCY@", "60").replace("@NAME@", "Limits")
    assert validate_text(text.replace("@X@", f"{{a: &a {half}, b: *a}}")).valid
    # Three copies pass 1 MiB once expanded, though the text is a quarter of that.
    assert not validate_text(text.replace("@X@", f"{{a: &a {half}, b: [*a, *a, *a]}}")).valid


def test_nesting_stops_at_the_limit_in_both_formats() -> None:
    for fmt, opener, closer in (("yaml", "[", "]"), ("json", "[", "]")):
        at = opener * MAX_DEPTH + closer * MAX_DEPTH
        past = opener * (MAX_DEPTH + 1) + closer * (MAX_DEPTH + 1)
        assert parse_text(at, fmt).root is not None  # type: ignore[arg-type]
        (problem,) = validate_text(past, format=fmt).problems  # type: ignore[arg-type]
        assert problem.kind is ProblemKind.PARSE
        assert (problem.line, problem.column) == (1, MAX_DEPTH + 1)
    # An alias can carry a node deeper than where it is written.
    deep = "[" * 40 + "]" * 40
    (problem,) = validate_text(
        f"a: &a {deep}\nb: [[[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]]\n"
    ).problems
    assert "levels deep" in problem.message


def test_a_text_over_1_mib_is_refused_as_the_server_would() -> None:
    padding = "#" + "x" * (MAX_DOCUMENT_BYTES) + "\n"
    (problem,) = validate_text(padding + "a: 1\n").problems
    assert problem.kind is ProblemKind.PARSE
    assert "1 MiB" in problem.message
    # Counted as UTF-8 bytes: 350,000 three-byte characters are over the limit too.
    (problem,) = validate_text("# " + "€" * 350_000 + "\na: 1\n").problems
    assert "1 MiB" in problem.message


def test_canonical_and_dumped_json_are_strict() -> None:
    for dump in (canonical_json, dump_json):
        for bad in (math.inf, -math.inf, math.nan):
            with pytest.raises(ValueError, match="JSON compliant"):
                dump({"x": bad})


def test_frequencies_are_1_to_525600_in_the_validator_and_the_schema() -> None:
    sync = definition_json_schema()["properties"]["sync"]["properties"]
    for key in ("frequency", "source_frequency", "destination_frequency"):
        assert (sync[key]["minimum"], sync[key]["maximum"]) == (1, MAX_FREQUENCY)
    for value, valid in ((1, True), (MAX_FREQUENCY, True), (0, False), (MAX_FREQUENCY + 1, False)):
        document = minimal()
        document["sync"] = {"source_frequency": value, "destination_frequency": 5}
        result = validate_text(dump_json(document))
        assert result.valid is valid
        if not valid:
            assert re.search("from 1 to 525,600 minutes", result.problems[0].message)
    description = definition_json_schema()["description"]
    assert "1,048,576 bytes" in description
    assert f"{MAX_DEPTH} nested" in description


@pytest.mark.parametrize(
    ("name", "valid"),
    [("public." + "t" * 248, True), ("public." + "t" * 249, False), ("orders\x7f", False)],
    ids=["255-characters", "256-characters", "del"],
)
def test_a_table_name_is_at_most_255_characters_without_control_characters(
    name: str, valid: bool
) -> None:
    document = minimal()
    document["tables"][0]["name"] = name
    result = validate_text(json.dumps(document), format="json")
    if valid:
        assert not [p for p in result.errors if p.path.startswith("tables")]
        return
    (problem,) = [p for p in result.errors if p.path.startswith("tables")]
    assert (problem.path, result.http_status) == ("tables[0].name", 400)
