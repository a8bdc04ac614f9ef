"""The definition document's schema: constants, the shape tree, its JSON Schema export.

One shape tree (`DOCUMENT`) drives both the validator's shape checks and the JSON Schema,
so the two cannot disagree about which keys exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from console.common.contract import HOOK_EVENTS
from console.definition.limits import (
    CONTROL_CHARACTERS,
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    MAX_FREQUENCY,
    MAX_NUMBER_CHARS,
    MAX_PIPELINE_NAME_CHARS,
    MAX_TABLE_NAME_CHARS,
    MIN_FREQUENCY,
)

DEFINITION_VERSION = 1
TRANSFORMATION_TYPES = (
    "exclude_fields",
    "rename_fields",
    "toggle_case",
    "find_and_replace",
    "replace_in_field_name",
    "history_mode",
)

_MINIMAL_EXAMPLE_TEMPLATE = """\
definition_version: 1
name: Orders to warehouse
source:
  connection:
    id: {source}
destination:
  connection:
    id: {destination}
sync:
  frequency: 60
tables:
  - name: public.orders
"""
MINIMAL_EXAMPLE_YAML = _MINIMAL_EXAMPLE_TEMPLATE.format(source=1, destination=5)


def minimal_example(source_connection_id: int = 1, destination_connection_id: int = 5) -> str:
    """The documented minimal example, naming an account's own connections.

    Connection ids belong to an account: the editor fills in the first source and
    destination of the connected account, so "New pipeline" is valid as it opens.
    """
    return _MINIMAL_EXAMPLE_TEMPLATE.format(
        source=int(source_connection_id), destination=int(destination_connection_id)
    )


# Scalar shapes are plain strings; "object" is a free-form mapping (a transformation's
# config, whose keys depend on the transformation type).
STR, INT, BOOL, OBJECT = "str", "int", "bool", "object"


@dataclass(frozen=True)
class ListOf:
    """A list whose every item has the shape `item`."""

    item: Spec


@dataclass(frozen=True)
class MapOf:
    """A mapping with exactly these keys allowed, some of them required."""

    fields: dict[str, Spec]
    required: tuple[str, ...] = ()


Spec = str | ListOf | MapOf

_CONNECTION_REF = MapOf({"connection": MapOf({"id": INT}, ("id",))}, ("connection",))
FREQUENCY_KEYS = ("frequency", "source_frequency", "destination_frequency")

DOCUMENT = MapOf(
    {
        "definition_version": INT,
        "name": STR,
        "source": _CONNECTION_REF,
        "destination": _CONNECTION_REF,
        "sync": MapOf(
            {**dict.fromkeys(FREQUENCY_KEYS, INT), "auto_sync_new_tables": BOOL},
        ),
        "tables": ListOf(
            MapOf(
                {
                    "name": STR,
                    "append_only": BOOL,
                    "columns": MapOf({"include": ListOf(STR), "exclude": ListOf(STR)}),
                },
                ("name",),
            )
        ),
        "transformations": ListOf(
            MapOf({"type": STR, "table": STR, "config": OBJECT}, ("type", "table"))
        ),
        "hooks": ListOf(MapOf({"id": INT, "events": ListOf(STR)}, ("id", "events"))),
    },
    ("definition_version", "name", "source", "destination", "sync", "tables"),
)

_JSON_TYPES = {STR: "string", INT: "integer", BOOL: "boolean", OBJECT: "object"}


def _shape_schema(spec: Spec) -> dict[str, Any]:
    if isinstance(spec, ListOf):
        return {"type": "array", "items": _shape_schema(spec.item)}
    if isinstance(spec, MapOf):
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {name: _shape_schema(sub) for name, sub in spec.fields.items()},
            "additionalProperties": False,
        }
        if spec.required:
            schema["required"] = list(spec.required)
        return schema
    return {"type": _JSON_TYPES[spec]}


def definition_json_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of the definition document, for other editors."""
    schema = _shape_schema(DOCUMENT)
    props = schema["properties"]
    props["definition_version"]["const"] = DEFINITION_VERSION
    no_control = f"^[^{CONTROL_CHARACTERS}]*$"
    props["name"].update(minLength=1, maxLength=MAX_PIPELINE_NAME_CHARS, pattern=no_control)
    sync = props["sync"]
    for key in FREQUENCY_KEYS:
        sync["properties"][key].update(
            minimum=MIN_FREQUENCY, maximum=MAX_FREQUENCY, description="minutes (at most a year)"
        )

    either = {
        "anyOf": [{"required": ["source_frequency"]}, {"required": ["destination_frequency"]}]
    }
    sync["oneOf"] = [
        {"required": ["frequency"], "not": either},
        {
            "required": ["source_frequency", "destination_frequency"],
            "not": {"required": ["frequency"]},
        },
    ]
    props["tables"]["minItems"] = 1
    table = props["tables"]["items"]
    table["properties"]["name"].update(
        minLength=1, maxLength=MAX_TABLE_NAME_CHARS, pattern=no_control
    )
    table["properties"]["columns"]["not"] = {"required": ["include", "exclude"]}
    transformation = props["transformations"]["items"]["properties"]
    transformation["type"]["enum"] = list(TRANSFORMATION_TYPES)
    hook = props["hooks"]["items"]["properties"]
    hook["events"]["minItems"] = 1
    hook["events"]["items"]["enum"] = list(HOOK_EVENTS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://integration-console.example/schemas/pipeline-definition-v1.json",
        "title": "Pipeline definition",
        "description": (
            "A pipeline definition document (PLATFORM_API.md, Pipelines). Beyond what this "
            f"schema states: at most {MAX_DOCUMENT_BYTES:,} bytes as UTF-8 (aliases count "
            f"as expanded), at most {MAX_DEPTH} nested mappings and lists, no recursive "
            "aliases, and every number anywhere (transformation config too) finite, written "
            f"in at most {MAX_NUMBER_CHARS} characters, and, when an integer, within "
            "-2**63 to 2**63-1."
        ),
        **schema,
    }
