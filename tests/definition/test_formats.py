"""YAML and JSON: one schema, the same verdicts, lossless toggling, a canonical form."""

from __future__ import annotations

import json

from console.definition import (
    MINIMAL_EXAMPLE_YAML,
    canonical_json,
    dump_json,
    dump_yaml,
    parse_text,
    sniff_format,
    validate_text,
)
from tests.definition.support import full, minimal


def test_format_is_sniffed_from_the_first_character() -> None:
    assert sniff_format('  \n {"a": 1}') == "json"
    assert sniff_format("a: 1") == "yaml"
    assert sniff_format("[1]") == "yaml"
    assert parse_text('{"a": 1}').format == "json"
    assert validate_text(dump_json(full())).extra["format"] == "json"


def test_yaml_and_json_give_the_same_document() -> None:
    yaml_result = validate_text(dump_yaml(full()))
    json_result = validate_text(dump_json(full()))
    assert yaml_result.document == json_result.document == full()


def test_dump_yaml_round_trips_in_key_order_with_indented_lists() -> None:
    text = dump_yaml(full())
    assert text.startswith("definition_version: 1\nname: Orders to warehouse\nsource:\n")
    assert "tables:\n  - name: public.orders\n" in text
    document = validate_text(text).document
    assert document == full()
    assert list(document or {}) == list(full())


def test_dump_json_round_trips_in_key_order_with_indent_2() -> None:
    text = dump_json(full())
    assert text.startswith('{\n  "definition_version": 1,\n  "name": ')
    document = validate_text(text).document
    assert json.dumps(document) == json.dumps(full())


def test_tricky_strings_survive_the_toggle() -> None:
    document = minimal()
    document["name"] = "yes"
    document["tables"] = [
        {"name": name} for name in ("1", "null", "on", "2024-01-01", "a: b", "# x", "😀", "")
    ]
    document["tables"][-1]["name"] = "x" * 200  # no folding of long strings
    for text in (dump_yaml(document), dump_json(document)):
        assert validate_text(text).document == document


def test_yaml_dates_stay_text_so_both_formats_agree() -> None:
    text = MINIMAL_EXAMPLE_YAML + (
        "transformations:\n  - type: history_mode\n    table: public.orders\n"
        "    config: {since: 2024-01-01, weight: 1.5, flag: yes, hex: 0x1F}\n"
    )
    result = validate_text(text)
    assert result.valid
    assert result.document is not None
    config = result.document["transformations"][0]["config"]
    assert config == {"since": "2024-01-01", "weight": 1.5, "flag": True, "hex": 31}
    assert validate_text(dump_json(result.document)).document == result.document


def test_canonical_json_ignores_key_order_and_format() -> None:
    from_yaml = validate_text(MINIMAL_EXAMPLE_YAML).document
    reordered = dict(reversed(list(minimal().items())))
    from_json = validate_text(json.dumps(reordered)).document
    assert from_yaml is not None
    assert from_json is not None
    assert canonical_json(from_yaml) == canonical_json(from_json)
    assert " " not in canonical_json({"b": 1, "a": [1, 2]})
    assert canonical_json({"b": 1, "a": 2}) == '{"a":2,"b":1}'


def test_parse_text_keeps_a_position_for_every_node() -> None:
    for fmt, text in (("yaml", MINIMAL_EXAMPLE_YAML), ("json", dump_json(minimal()))):
        parsed = parse_text(text, fmt)  # type: ignore[arg-type]
        assert parsed.root is not None
        key, value = parsed.root.value[1]
        assert key.value == "name"
        assert parsed.position(key) == ((2, 1) if fmt == "yaml" else (3, 3))
        line, column = parsed.position(value)
        assert text.splitlines()[line - 1][column - 1 :].lstrip('"').startswith("Orders")
