"""Settings and drafts are written whole or not at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.config.files import write_json_atomically


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "settings.json"
    write_json_atomically(path, {"profiles": ["Prod"]}, indent=2)
    assert json.loads(path.read_text()) == {"profiles": ["Prod"]}
    with pytest.raises(TypeError):
        write_json_atomically(path, {"profiles": [object()]})  # not JSON: fails mid-write
    assert json.loads(path.read_text()) == {"profiles": ["Prod"]}
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]
