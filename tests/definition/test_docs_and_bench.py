"""docs/pipelines.md shows valid examples, and the definition benchmark keeps running."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from console.definition import MINIMAL_EXAMPLE_YAML, validate_text
from tests.definition.support import CATALOG

ROOT = Path(__file__).resolve().parents[2]


def _definition_blocks() -> list[str]:
    text = (ROOT / "docs" / "pipelines.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.+?)```", text, flags=re.DOTALL)
    return [block for block in blocks if block.startswith("definition_version")]


def test_the_documented_minimal_example_is_the_one_in_the_code() -> None:
    minimal, *_ = _definition_blocks()
    assert minimal == MINIMAL_EXAMPLE_YAML


def test_every_documented_definition_is_valid() -> None:
    blocks = _definition_blocks()
    assert len(blocks) >= 2
    for block in blocks:
        result = validate_text(block, catalog=CATALOG)
        assert result.problems == (), block


def test_the_definition_benchmark_runs_and_prints_its_table(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "definition_bench.py"),
            "--tables",
            "50",
            "--runs",
            "3",
            "--json",
            str(tmp_path / "figures.json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for row in (
        "| validate_text (YAML), plain compose |",
        "| validate_text (YAML), editor's cancellable composer |",
        "| validate_text (JSON) |",
        "| floor: yaml.compose |",
        "| floor: json.loads |",
    ):
        assert row in result.stdout
    assert "3 runs" in result.stdout
    cases = json.loads((tmp_path / "figures.json").read_text())["cases"]
    # Each case against its own floor: JSON against json.loads, not the YAML compose.
    assert cases["validate_text (JSON)"]["floor"] == "floor: json.loads"
    assert cases["validate_text (YAML), plain compose"]["floor"] == "floor: yaml.compose"
