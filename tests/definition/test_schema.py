"""The JSON Schema export: it describes the same document the validator accepts."""

from __future__ import annotations

from typing import Any

from console.definition import (
    HOOK_EVENTS,
    MINIMAL_EXAMPLE_YAML,
    TRANSFORMATION_TYPES,
    definition_json_schema,
    validate_text,
)
from tests.definition.support import full

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "boolean": bool,
}


def _conforms(value: Any, schema: dict[str, Any]) -> bool:
    """A tiny structural check of the keywords our schema uses (no jsonschema dependency)."""
    kind = schema.get("type")
    if kind is not None:
        if not isinstance(value, _TYPES[kind]):
            return False
        if kind == "integer" and isinstance(value, bool):
            return False
    if "const" in schema and value != schema["const"]:
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if "minimum" in schema and value < schema["minimum"]:
        return False
    if "minLength" in schema and len(value) < schema["minLength"]:
        return False
    if "minItems" in schema and len(value) < schema["minItems"]:
        return False
    if "not" in schema and _conforms(value, schema["not"]):
        return False
    if "anyOf" in schema and not any(_conforms(value, s) for s in schema["anyOf"]):
        return False
    if "oneOf" in schema and sum(_conforms(value, s) for s in schema["oneOf"]) != 1:
        return False
    if isinstance(value, dict):
        if any(key not in value for key in schema.get("required", [])):
            return False
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key not in properties:
                if schema.get("additionalProperties") is False:
                    return False
            elif not _conforms(item, properties[key]):
                return False
    if isinstance(value, list) and "items" in schema:
        return all(_conforms(item, schema["items"]) for item in value)
    return True


def test_schema_is_draft_2020_12_with_enums_and_no_extra_keys() -> None:
    schema = definition_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["definition_version"]["const"] == 1
    assert props["transformations"]["items"]["properties"]["type"]["enum"] == list(
        TRANSFORMATION_TYPES
    )
    assert props["hooks"]["items"]["properties"]["events"]["items"]["enum"] == list(HOOK_EVENTS)
    table = props["tables"]["items"]
    assert table["additionalProperties"] is False
    assert table["required"] == ["name"]


def test_the_minimal_example_and_the_full_document_conform_to_the_schema() -> None:
    schema = definition_json_schema()
    minimal = validate_text(MINIMAL_EXAMPLE_YAML).document
    assert _conforms(minimal, schema)
    assert _conforms(full(), schema)


def test_the_schema_rejects_what_the_validator_rejects() -> None:
    schema = definition_json_schema()
    cases: list[dict[str, Any]] = []
    for mutate in (
        lambda d: d.update(colour="red"),
        lambda d: d.pop("name"),
        lambda d: d.update(definition_version=2),
        lambda d: d["sync"].update(source_frequency=5),
        lambda d: d["sync"].update(frequency=0),
        lambda d: d["tables"][0]["columns"].update(exclude=["x"]),
        lambda d: d["transformations"][0].update(type="nope"),
        lambda d: d["hooks"][0].update(events=["nope"]),
        lambda d: d.update(tables=[]),
        lambda d: d["tables"][0].update(append_only=1),
    ):
        document = full()
        mutate(document)  # type: ignore[no-untyped-call]
        cases.append(document)
    for document in cases:
        assert not validate_text(str(document).replace("'", '"').replace("True", "true")).valid
        assert not _conforms(document, schema), document
