"""Property: YAML and JSON renderings of any document get the same verdicts and document."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from console.definition import validate_text
from tests.definition.support import CATALOG, full, render, verdicts

# YAML 1.1 reads NEL, LS, PS and other controls as line breaks or refuses them, so a
# dumped string holding them does not read back as itself: keep to what both formats
# carry losslessly (the parser's own handling of them is tested in test_rules.py).
TEXT = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\x85\ufeff"
    ),
    max_size=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


PATHS = _paths(full())
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 100) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
EDITS = st.lists(
    st.tuples(
        st.sampled_from(PATHS),
        st.sampled_from(["set", "delete", "add"]),
        VALUES,
        TEXT,
    ),
    max_size=4,
)


def _apply(document: dict[str, Any], edits: list[tuple[tuple[Any, ...], str, Any, str]]) -> None:
    for path, action, value, new_key in edits:
        parent: Any = document
        try:
            for part in path[:-1]:
                parent = parent[part]
            if isinstance(parent, dict) and not isinstance(path[-1], str):
                continue  # a list index on a mapping: JSON could only say it as a string key
            if action == "set":
                parent[path[-1]] = value
            elif action == "delete":
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[new_key] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this part


@settings(max_examples=100, deadline=None)
@given(EDITS)
def test_yaml_and_json_agree_on_every_document(
    edits: list[tuple[tuple[Any, ...], str, Any, str]],
) -> None:
    document = full()
    _apply(document, edits)
    from_yaml = validate_text(render(document, "yaml"), format="yaml", catalog=CATALOG)
    from_json = validate_text(render(document, "json"), format="json", catalog=CATALOG)
    assert sorted(verdicts(from_yaml)) == sorted(verdicts(from_json))
    assert from_yaml.document == from_json.document == document
    assert from_yaml.http_status == from_json.http_status
