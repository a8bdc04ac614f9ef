"""Pipeline definition documents: parse, validate, dump, and export their JSON Schema.

No Qt here: the editor, the sandbox server and the `validate` command all use it.
"""

from __future__ import annotations

from console.common.contract import HOOK_EVENTS
from console.definition.cancellable import ValidationCancelled
from console.definition.dumping import canonical_json, dump_json, dump_yaml
from console.definition.model import Catalog, Problem, ProblemKind, Severity, ValidationResult
from console.definition.parsing import (
    DefinitionSyntaxError,
    Format,
    ParsedDocument,
    parse_text,
    sniff_format,
)
from console.definition.schema import (
    DEFINITION_VERSION,
    MINIMAL_EXAMPLE_YAML,
    TRANSFORMATION_TYPES,
    definition_json_schema,
    minimal_example,
)
from console.definition.validator import validate_parsed, validate_text

__all__ = [
    "DEFINITION_VERSION",
    "HOOK_EVENTS",
    "MINIMAL_EXAMPLE_YAML",
    "TRANSFORMATION_TYPES",
    "Catalog",
    "DefinitionSyntaxError",
    "Format",
    "ParsedDocument",
    "Problem",
    "ProblemKind",
    "Severity",
    "ValidationCancelled",
    "ValidationResult",
    "canonical_json",
    "definition_json_schema",
    "dump_json",
    "dump_yaml",
    "minimal_example",
    "parse_text",
    "sniff_format",
    "validate_parsed",
    "validate_text",
]
