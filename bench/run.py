"""Benchmarks of Integration Console. Run: python bench/run.py [--runs 5].

startup: cold start of the console process to its first painted main window, against a
sandbox that is already running (its own start excluded), offscreen; also the time until
the keys table holds the server's data. Floor: a bare PySide6 window with four tabbed
tables, measured alternately in the same run.
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

from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import mint_key

HERE = Path(__file__).resolve().parent
TARGET_FIRST_PAINT_MS = 1000.0


def _timed_child(argv: list[str], env: dict[str, str], wanted: str) -> dict[str, float]:
    env = {**env, "INTEGRATION_CONSOLE_BENCH_T0": repr(time.time())}
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    marks = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition(" ")
        if name in ("first-paint", "keys-loaded"):
            marks[name] = float(value)
    if wanted not in marks:
        raise RuntimeError(f"{argv} printed no {wanted}: {result.stderr[-2000:]}")
    return marks


def bench_startup(runs: int, *, warm_up: bool = True) -> dict[str, object]:
    """Median first paint and first data of the console, and of the bare-window floor."""
    with tempfile.TemporaryDirectory(prefix="ic-bench-") as tmp:
        sandbox = SandboxProcess(Path(tmp) / "sandbox", demo=True, rate_limit="100000/300")
        base_url = sandbox.start()
        try:
            key = mint_key(sandbox.data_dir, account="demo", kind="admin", name="bench")
            env = {
                **os.environ,
                "QT_QPA_PLATFORM": "offscreen",
                "INTEGRATION_CONSOLE_HOME": str(Path(tmp) / "home"),
                "INTEGRATION_CONSOLE_API_KEY": key,
                "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
            }
            console = [sys.executable, "-m", "console", "--url", base_url]
            floor = [sys.executable, str(HERE / "floor_bare_window.py")]
            if warm_up:  # one unmeasured round warms the OS file cache for both
                _timed_child([*console, "--exit-after", "keys-loaded"], env, "keys-loaded")
                _timed_child(floor, env, "first-paint")
            paint, data, bare = [], [], []
            for _ in range(runs):
                marks = _timed_child([*console, "--exit-after", "keys-loaded"], env, "keys-loaded")
                paint.append(marks["first-paint"])
                data.append(marks["keys-loaded"])
                bare.append(_timed_child(floor, env, "first-paint")["first-paint"])
        finally:
            sandbox.stop()
    first_paint = statistics.median(paint)
    floor_paint = statistics.median(bare)
    return {
        "runs": runs,
        "first_paint_ms": paint,
        "keys_loaded_ms": data,
        "floor_first_paint_ms": bare,
        "median_first_paint_ms": first_paint,
        "median_keys_loaded_ms": statistics.median(data),
        "median_floor_first_paint_ms": floor_paint,
        "ratio_to_floor": first_paint / floor_paint,
        "target_ms": TARGET_FIRST_PAINT_MS,
        "meets_target": first_paint <= TARGET_FIRST_PAINT_MS,
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
    """Run the benchmarks, print a table, save JSON under bench/results/."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--smoke", action="store_true", help="one run, no warm-up, no target check (tests)"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    runs = 1 if args.smoke else args.runs
    results = {"machine": machine(), "startup": bench_startup(runs, warm_up=not args.smoke)}
    out = args.out
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2))
    s = results["startup"]
    assert isinstance(s, dict)
    print(f"machine: {results['machine']}")
    print("| benchmark | median | floor (bare Qt window) | ratio | target |")
    print("|---|---|---|---|---|")
    print(
        f"| cold start to first paint | {s['median_first_paint_ms']:.0f} ms | "
        f"{s['median_floor_first_paint_ms']:.0f} ms | {s['ratio_to_floor']:.2f}x | ≤ 1000 ms |"
    )
    print(f"| cold start to keys listed | {s['median_keys_loaded_ms']:.0f} ms | — | — | — |")
    return 0 if args.smoke or s["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
