"""Frozen start-up against the source install: `--sandbox --screenshots`, side by side.

Run from the repo root, after `python packaging/build.py`:
    python bench/frozen_startup_bench.py [--app dist/integration-console] [--runs 7]

What runs, each as a whole new process, offscreen, alternating frozen, source, frozen, ...
after one unmeasured warm-up of each (which creates each one's sandbox data dir, and for
the source install writes its bytecode caches, as an installed console has them):
- frozen: `dist/integration-console/integration-console --sandbox --data D1 --screenshots`
  (its sandbox child is the frozen executable itself);
- source (the floor): `python -m console --sandbox --data D2 --screenshots`, the same
  command from the source install, in the same run.
Each figure is counted from t0 taken just before the spawn (bench/run.py's marks): first
paint, the four screenshots written, and the whole process until its exit. The ratio is
frozen's median over source's median. Target: whole process <= 1.1x the source install's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from console.sandbox.storage.lock import DataDirLock
from run import _timed_process, machine  # bench/run.py, the start-up benchmark

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_APP = ROOT / "dist" / "integration-console"
MARKS = ("first-paint", "screenshots-saved")
TARGET_RATIO = 1.1


def bench(app: Path, runs: int, *, warm_up: bool = True) -> dict[str, object]:
    """Medians of the frozen and the source start-up, measured alternately."""
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="ic-frozen-bench-") as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env |= {"QT_QPA_PLATFORM": "offscreen", "INTEGRATION_CONSOLE_HOME": str(root / "home")}
        commands = {
            "frozen": [str(app / "integration-console")],
            "source": [sys.executable, "-m", "console"],
        }

        def start(kind: str, run: str) -> dict[str, float]:
            data = root / f"data-{kind}"
            with DataDirLock(data) as idle:  # the previous run's child has stopped
                idle.acquire(wait=60)
            argv = [*commands[kind], "--sandbox", "--data", str(data)]
            shots = root / f"shots-{kind}-{run}"
            return _timed_process([*argv, "--screenshots", str(shots)], env, MARKS)

        for kind in commands:
            if warm_up or not (root / f"data-{kind}").exists():
                start(kind, "warm-up")
        for run in range(runs):
            for kind in commands:
                for name, value in start(kind, str(run)).items():
                    samples.setdefault(f"{kind} {name}", []).append(value)
    median = {name: statistics.median(values) for name, values in samples.items()}
    ratio = median["frozen wall"] / median["source wall"]
    return {
        "runs": runs,
        "samples_ms": samples,
        "median_ms": median,
        "ratio_wall": ratio,
        "ratio_first_paint": median["frozen first-paint"] / median["source first-paint"],
        "ratio_screenshots": median["frozen screenshots-saved"]
        / median["source screenshots-saved"],
        "target_ratio_wall": TARGET_RATIO,
        "meets_target": ratio <= TARGET_RATIO,
    }


def main() -> int:
    """Run it, print a table, save JSON under bench/results/."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--app", type=Path, default=DEFAULT_APP, help="the onedir build")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="one run, no warm-up (tests)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    if not (args.app / "integration-console").is_file():
        parser.error(f"no build at {args.app}: run python packaging/build.py first")
    result = bench(args.app, 1 if args.smoke else args.runs, warm_up=not args.smoke)
    median = result["median_ms"]
    assert isinstance(median, dict)
    print(f"frozen vs source start-up, {result['runs']} runs each, {machine()}")
    for figure in ("first-paint", "screenshots-saved", "wall"):
        frozen, source = median[f"frozen {figure}"], median[f"source {figure}"]
        print(
            f"  {figure:18} frozen {frozen:7.0f} ms  source {source:7.0f} ms  "
            f"{frozen / source:5.2f}x"
        )
    print(
        f"  target: whole process <= {TARGET_RATIO}x: "
        f"{'met' if result['meets_target'] else 'MISSED'}"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "frozen_startup.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
