"""Write a plain definition document back out: YAML, JSON, and a canonical form."""

from __future__ import annotations

import json
from typing import Any

import yaml


class _BlockDumper(yaml.SafeDumper):
    """Block style with list items indented under their key, as people write them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # PyYAML writes `tables:\n- name: x` by default; `indentless=False` gives `  - name`.
        super().increase_indent(flow, False)


def dump_yaml(document: dict[str, Any]) -> str:
    """Block-style YAML in the document's key order (the editor's JSON→YAML toggle)."""
    text: str = yaml.dump(
        document,
        Dumper=_BlockDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1_000_000,  # never fold long strings: folding would move problem lines
    )
    return text


def dump_json(document: dict[str, Any]) -> str:
    """JSON indented by 2 in the document's key order (the editor's YAML→JSON toggle)."""
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def canonical_json(document: dict[str, Any]) -> str:
    """Sorted keys, no spaces: equal documents give equal text (idempotent replace).

    Strict JSON: a non-finite number raises ValueError rather than being written as the
    `NaN`/`Infinity` no JSON parser accepts (the validator never lets one through).
    """
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
