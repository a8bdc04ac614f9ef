"""Benchmark of the local definition validator. Run: python bench/definition_bench.py.

Validates a generated 1,000-table definition (about 3,000 lines of YAML) with
`validate_text`, as YAML and as JSON, ~50 times each, and measures the floor in the same
run: `yaml.compose` alone with the same loader (the validator cannot be faster than
composing the nodes it walks). Runs are interleaved so background noise hits all alike.
Prints a markdown table of median and p95 ms and the ratio to the floor.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from console.definition import dump_json, validate_text

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def make_definition(tables: int) -> str:
    """A valid definition with `tables` tables (3 lines each), transformations and hooks."""
    lines = [
        "definition_version: 1",
        "name: Benchmark pipeline",
        "source:",
        "  connection:",
        "    id: 1",
        "destination:",
        "  connection:",
        "    id: 5",
        "sync:",
        "  frequency: 60",
        "  auto_sync_new_tables: true",
        "tables:",
    ]
    for i in range(tables):
        lines += [
            f"  - name: public.table_{i:04d}",
            f"    append_only: {'true' if i % 3 == 0 else 'false'}",
            "    columns: {exclude: [ssn, password_hash]}",
        ]
    lines.append("transformations:")
    for i in range(0, tables, 50):
        lines += [
            "  - type: toggle_case",
            f"    table: public.table_{i:04d}",
            "    config: {fields: [name], case: upper}",
        ]
    lines += ["hooks:", "  - id: 1", "    events: [pipeline_failed, sync_failed]"]
    return "\n".join(lines) + "\n"


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run(tables: int, runs: int) -> dict[str, object]:
    """Time every case `runs` times, interleaved; return the figures."""
    yaml_text = make_definition(tables)
    result = validate_text(yaml_text)
    if not result.valid or result.document is None:
        raise RuntimeError(f"the generated definition is invalid: {result.problems[:3]}")
    json_text = dump_json(result.document)
    assert validate_text(json_text).valid
    cases: dict[str, Callable[[], object]] = {
        "validate_text (YAML)": lambda: validate_text(yaml_text, format="yaml"),
        "validate_text (JSON)": lambda: validate_text(json_text, format="json"),
        "floor: yaml.compose only": lambda: yaml.compose(yaml_text, Loader=LOADER),
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for case in cases.values():  # warm-up, unmeasured
        case()
    for _ in range(runs):
        for name, case in cases.items():
            started = time.perf_counter()
            case()
            samples[name].append((time.perf_counter() - started) * 1000)
    floor = statistics.median(samples["floor: yaml.compose only"])
    figures = {
        name: {
            "median_ms": round(statistics.median(values), 2),
            "p95_ms": round(_percentile(values, 0.95), 2),
            "ratio_to_floor": round(statistics.median(values) / floor, 2),
        }
        for name, values in samples.items()
    }
    return {
        "tables": tables,
        "yaml_lines": yaml_text.count("\n"),
        "json_lines": json_text.count("\n"),
        "runs": runs,
        "loader": LOADER.__name__,
        "python": sys.version.split()[0],
        "cases": figures,
    }


def main() -> int:
    """Run the benchmark and print its markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    figures = run(args.tables, args.runs)
    print(
        f"Definition validation: {figures['tables']} tables "
        f"({figures['yaml_lines']} lines YAML, {figures['json_lines']} lines JSON), "
        f"{figures['runs']} runs, {figures['loader']}, Python {figures['python']}\n"
    )
    print("| case | median ms | p95 ms | median / floor |")
    print("|---|---:|---:|---:|")
    cases = figures["cases"]
    assert isinstance(cases, dict)
    for name, row in cases.items():
        print(f"| {name} | {row['median_ms']} | {row['p95_ms']} | {row['ratio_to_floor']} |")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
