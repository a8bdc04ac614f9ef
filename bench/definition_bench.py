"""Benchmark of the local definition validator. Run: python bench/definition_bench.py.

A generated 1,000-table definition (about 3,000 lines of YAML, and the same document
as JSON) is validated with `validate_text` 50 times per case (--runs), after one
unmeasured warm-up; the cases are interleaved so background noise hits all alike. Each
case is timed alone, in this process, as the wall time of one call (perf_counter), and
divided by its own floor, measured in the same run:
- validate_text (YAML), plain compose: what the server and the linter run. Floor:
  `yaml.compose` alone with the same loader (the nodes the validator walks).
- validate_text (YAML), editor's cancellable composer: what the live editor runs in its
  worker (`should_stop` given, never set: composing event by event so that a keystroke
  can abandon it). Floor: `yaml.compose`.
- cancellable composer alone: `compose_cancellable` against `yaml.compose`, the price
  of being cancellable without the validation around it.
- validate_text (JSON). Floor: `json.loads` of the same text (the parse it cannot beat).
Prints a markdown table of median and p95 ms and each case's ratio to its floor.
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
from console.definition.cancellable import compose_cancellable

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
FLOOR_COMPOSE = "floor: yaml.compose"
FLOOR_JSON = "floor: json.loads"


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

    def never() -> bool:
        return False

    # case name -> (the call, the name of its floor)
    cases: dict[str, tuple[Callable[[], object], str]] = {
        "validate_text (YAML), plain compose": (
            lambda: validate_text(yaml_text, format="yaml"),
            FLOOR_COMPOSE,
        ),
        "validate_text (YAML), editor's cancellable composer": (
            lambda: validate_text(yaml_text, format="yaml", should_stop=never),
            FLOOR_COMPOSE,
        ),
        "compose_cancellable alone": (
            lambda: compose_cancellable(yaml_text, LOADER, never),
            FLOOR_COMPOSE,
        ),
        "validate_text (JSON)": (lambda: validate_text(json_text, format="json"), FLOOR_JSON),
        FLOOR_COMPOSE: (lambda: yaml.compose(yaml_text, Loader=LOADER), FLOOR_COMPOSE),
        FLOOR_JSON: (lambda: json.loads(json_text), FLOOR_JSON),
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for case, _floor in cases.values():  # warm-up, unmeasured
        case()
    for _ in range(runs):
        for name, (case, _floor) in cases.items():
            started = time.perf_counter()
            case()
            samples[name].append((time.perf_counter() - started) * 1000)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    figures = {
        name: {
            "median_ms": round(medians[name], 2),
            "p95_ms": round(_percentile(samples[name], 0.95), 2),
            "floor": floor,
            "ratio_to_floor": round(medians[name] / medians[floor], 2),
        }
        for name, (_case, floor) in cases.items()
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
    print("| case | median ms | p95 ms | floor | median / floor's median |")
    print("|---|---:|---:|---|---:|")
    cases = figures["cases"]
    assert isinstance(cases, dict)
    for name, row in cases.items():
        print(
            f"| {name} | {row['median_ms']} | {row['p95_ms']} | {row['floor']} | "
            f"{row['ratio_to_floor']}x |"
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
