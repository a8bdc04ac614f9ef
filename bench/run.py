"""Start-up benchmark: the user's `--sandbox --screenshots` run against a bare Qt window.

Run from the repo root: python bench/run.py [--runs 7] [--out DIR]   (--smoke: 1 run)

What runs, each as a whole new process, offscreen (QT_QPA_PLATFORM=offscreen):
- console: `python -m console --sandbox --data DATA --screenshots SHOTS`, exactly what a
  user types, with a temp INTEGRATION_CONSOLE_HOME. DATA is one data dir for every run:
  the unmeasured warm-up run creates it (migrations, demo data, the console's key), so the
  measured runs are the everyday start, not the very first one. The keychain is whatever
  the environment configures (on a box with no Secret Service: the key's 0600 file).
  PYTHONDONTWRITEBYTECODE is dropped, so the warm-up writes the bytecode caches an
  installed console has (compiling the console's modules on every start costs ~0.2 s).
- floor: bench/floor_bare_window.py, a bare PySide6 window with four tabbed tables that
  saves four 1280x800 PNGs after its first paint and exits the ordinary way.
The two alternate (console, floor, console, floor, ...) after one warm-up of each, so a
machine that changes speed hits both alike. Every figure is a median over the runs. Each
console run starts once the previous run's sandbox child has stopped (it stops by itself
after its console exits; the benchmark waits for its lock on the data dir, untimed).

Each figure is counted from t0, taken in this process just before the spawn (and passed
to the child in $INTEGRATION_CONSOLE_BENCH_T0), so it includes the interpreter's start
and every import:
- first paint: until the main window's first paint event.
- keys shown: until the keys table holds the server's answer (console only: it includes
  the sandbox child's start, the keychain lookup and the first requests).
- screenshots written: until the fourth PNG is saved.
- whole process: until this process sees the child exit (its teardown included).
- sandbox child start, on its own: from the spawn of the `sandbox serve` child until the
  console's reader thread sees its `listening on` line (part of every console figure
  after first paint; the console overlaps it with its own imports and paint).
Ratios divide the console's median by the floor's median of the same figure.
Targets: whole process <= 3x the floor's, first paint <= 2x the floor's.

`--also NAME ...` then runs other benchmarks of bench/ (OTHER_BENCHMARKS), each as its own
process printing its own table (with `--quick` under `--smoke`), e.g. `--also ingest logs`:
bulk ingest of 1,000,000 records against its floor, and GET /logs and /trace at 1,000,000
entries. Each writes its figures to `OUT/NAME.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from console.sandbox.storage.lock import DataDirLock

HERE = Path(__file__).resolve().parent
DEFAULT_RUNS = 7
TARGET_WHOLE_RATIO = 3.0
TARGET_FIRST_PAINT_RATIO = 2.0
CONSOLE_MARKS = (
    "first-paint",
    "sandbox-spawned",
    "sandbox-listening",
    "keys-loaded",
    "screenshots-saved",
)
FLOOR_MARKS = ("first-paint", "screenshots-saved")
# Other benchmarks `--also` runs: name -> script in bench/.
OTHER_BENCHMARKS = {
    "ingest": "ingest_bench.py",
    "logs": "logs_bench.py",
}


def _timed_process(
    argv: list[str], env: dict[str, str], wanted: tuple[str, ...]
) -> dict[str, float]:
    """Run `argv` once; return its printed marks (ms since t0) and its whole wall time."""
    t0 = time.time()
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env={**env, "INTEGRATION_CONSOLE_BENCH_T0": repr(t0)},
        timeout=120,
    )
    wall_ms = (time.time() - t0) * 1000
    marks = {"wall": wall_ms}
    for line in result.stdout.splitlines():
        name, _, value = line.partition(" ")
        if name in wanted:
            marks[name] = float(value)
    missing = [name for name in wanted if name not in marks]
    if result.returncode != 0 or missing:
        raise RuntimeError(
            f"{argv} exited {result.returncode}, missing {missing}: {result.stderr[-2000:]}"
        )
    return marks


def bench_startup(runs: int, *, warm_up: bool = True) -> dict[str, object]:
    """Medians of the console's start-up figures and of the floor's, measured alternately."""
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="ic-bench-") as tmp:
        root = Path(tmp)
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": "offscreen",
            "INTEGRATION_CONSOLE_HOME": str(root / "home"),
        }
        # An installed console has its bytecode compiled; from a source tree the
        # warm-up run writes it, unless the environment forbids it.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        data = root / "sandbox-data"

        def console(run: str) -> dict[str, float]:
            # The previous run's child stops by itself after its console has gone: wait
            # for it (its lock on the data dir) so that no run waits for another's.
            with DataDirLock(data) as idle:
                idle.acquire(wait=60)
            argv = [sys.executable, "-m", "console", "--sandbox", "--data", str(data)]
            return _timed_process(
                [*argv, "--screenshots", str(root / f"shots-{run}")], env, CONSOLE_MARKS
            )

        def floor(run: str) -> dict[str, float]:
            argv = [sys.executable, str(HERE / "floor_bare_window.py"), str(root / f"floor-{run}")]
            return _timed_process(argv, env, FLOOR_MARKS)

        if warm_up:  # creates the data dir, and warms the OS file cache for both
            console("warm-up")
            floor("warm-up")
        elif not data.exists():
            console("first")  # --smoke: still measure an everyday start, not the first
        for run in range(runs):
            marks = console(str(run))
            for name, value in marks.items():
                samples.setdefault(f"console {name}", []).append(value)
            samples.setdefault("console child start", []).append(
                marks["sandbox-listening"] - marks["sandbox-spawned"]
            )
            for name, value in floor(str(run)).items():
                samples.setdefault(f"floor {name}", []).append(value)

    median = {name: statistics.median(values) for name, values in samples.items()}
    whole_ratio = median["console wall"] / median["floor wall"]
    paint_ratio = median["console first-paint"] / median["floor first-paint"]
    return {
        "runs": runs,
        "samples_ms": samples,
        "median_first_paint_ms": median["console first-paint"],
        "median_keys_loaded_ms": median["console keys-loaded"],
        "median_screenshots_ms": median["console screenshots-saved"],
        "median_wall_ms": median["console wall"],
        "median_child_start_ms": median["console child start"],
        "median_floor_first_paint_ms": median["floor first-paint"],
        "median_floor_screenshots_ms": median["floor screenshots-saved"],
        "median_floor_wall_ms": median["floor wall"],
        "ratio_first_paint": paint_ratio,
        "ratio_screenshots": median["console screenshots-saved"]
        / median["floor screenshots-saved"],
        "ratio_wall": whole_ratio,
        "target_ratio_wall": TARGET_WHOLE_RATIO,
        "target_ratio_first_paint": TARGET_FIRST_PAINT_RATIO,
        "meets_targets": whole_ratio <= TARGET_WHOLE_RATIO
        and paint_ratio <= TARGET_FIRST_PAINT_RATIO,
    }


def machine() -> str:
    """One line naming the machine the figures come from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


def main() -> int:
    """Run the benchmark, print a table, save JSON under bench/results/."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    parser.add_argument(
        "--smoke", action="store_true", help="one run, no warm-up, no target check (tests)"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument(
        "--also",
        nargs="+",
        default=[],
        choices=sorted(OTHER_BENCHMARKS),
        metavar="NAME",
        help=f"then run these benchmarks too: {', '.join(sorted(OTHER_BENCHMARKS))}",
    )
    args = parser.parse_args()
    runs = 1 if args.smoke else args.runs
    results = {"machine": machine(), "startup": bench_startup(runs, warm_up=not args.smoke)}
    out = args.out
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2))
    s = results["startup"]
    assert isinstance(s, dict)
    print(f"machine: {results['machine']}; {runs} runs of each, alternating; medians")
    print("| `--sandbox --screenshots`, cold process | console | floor (bare Qt window) | ratio |")
    print("|---|---|---|---|")
    print(
        f"| cold start to first paint | {s['median_first_paint_ms']:.0f} ms | "
        f"{s['median_floor_first_paint_ms']:.0f} ms | {s['ratio_first_paint']:.2f}x "
        f"(target ≤ {TARGET_FIRST_PAINT_RATIO:g}x) |"
    )
    print(f"| cold start to keys shown | {s['median_keys_loaded_ms']:.0f} ms | — | — |")
    print(
        f"| cold start to four screenshots written | {s['median_screenshots_ms']:.0f} ms | "
        f"{s['median_floor_screenshots_ms']:.0f} ms | {s['ratio_screenshots']:.2f}x |"
    )
    print(
        f"| whole process | {s['median_wall_ms']:.0f} ms | {s['median_floor_wall_ms']:.0f} ms | "
        f"{s['ratio_wall']:.2f}x (target ≤ {TARGET_WHOLE_RATIO:g}x) |"
    )
    print(
        f"| sandbox child, spawn to `listening on` (on its own) | "
        f"{s['median_child_start_ms']:.0f} ms | — | — |"
    )
    status = 0 if args.smoke or s["meets_targets"] else 1
    for name in args.also:
        argv = [
            sys.executable,
            str(HERE / OTHER_BENCHMARKS[name]),
            "--json",
            str(out / f"{name}.json"),
        ]
        print(flush=True)
        other = subprocess.run([*argv, "--quick"] if args.smoke else argv, check=False)
        status = status or (0 if args.smoke else other.returncode)
    return status


if __name__ == "__main__":
    sys.exit(main())
