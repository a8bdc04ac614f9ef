"""The benchmark runner keeps working (its figures are judged in README, not here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_startup_benchmark_times_the_users_command_against_its_floor(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads((tmp_path / "latest.json").read_text())["startup"]
    assert 0 < figures["median_first_paint_ms"] < figures["median_screenshots_ms"]
    assert figures["median_keys_loaded_ms"] < figures["median_screenshots_ms"]
    assert figures["median_screenshots_ms"] < figures["median_wall_ms"]
    assert 0 < figures["median_child_start_ms"] < figures["median_keys_loaded_ms"]
    assert 0 < figures["median_floor_first_paint_ms"] < figures["median_floor_screenshots_ms"]
    assert figures["median_floor_screenshots_ms"] < figures["median_floor_wall_ms"]
    assert figures["ratio_wall"] == figures["median_wall_ms"] / figures["median_floor_wall_ms"]
    for row in ("cold start to first paint", "four screenshots written", "whole process"):
        assert row in result.stdout


@pytest.mark.slow
def test_editor_benchmark_runs_and_reports_keystroke_figures(tmp_path: Path) -> None:
    out = tmp_path / "editor.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "editor_bench.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]  # 1: target missed (noisy CI)
    assert "keystroke, UI thread" in result.stdout
    assert out.exists()
    assert out.stat().st_size > 0


@pytest.mark.slow
def test_tenancy_benchmark_runs_and_reports_both_measures(tmp_path: Path) -> None:
    out = tmp_path / "tenancy.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "tenancy_bench.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]  # 1: target missed (noisy CI)
    assert "other account's wait during 4 × 0.8 MB validations" in result.stdout
    figures = json.loads(out.read_text())
    assert figures["wait_during_validations"]["probes"] > 0
    assert figures["throughput"]["median_floor_req_s"] > 0


@pytest.mark.slow
def test_records_benchmark_runs_in_a_small_mode(tmp_path: Path) -> None:
    out = tmp_path / "records.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "records_bench.py"),
            "--quick",
            "--records",
            "3000",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| system_id (one record) |" in result.stdout
    assert "q freshness" in result.stdout
    figures = json.loads(out.read_text())
    assert figures["lookups"]["system_id (one record)"]["median_rows"] == 1
    assert figures["lookups"]["q: an email (one record)"]["floor_p50_ms"] > 0


@pytest.mark.slow
def test_records_ui_benchmark_runs_and_reports_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "records_ui.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "records_ui_bench.py"),
            "--quick",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]  # 1: target missed (noisy CI)
    assert "filter (system id) to first painted page, median" in result.stdout
    figures = json.loads(out.read_text())
    assert figures["records"] == 20_000
    assert figures["filters"]["system_id"]["floor_median_ms"] > 0
    assert figures["scroll"]["rows_loaded"] >= 10_000
    assert figures["scroll"]["rows_held"] <= 10_500


@pytest.mark.slow
def test_logview_buffer_benchmark_reports_memory_and_each_filter_against_its_floor(
    tmp_path: Path,
) -> None:
    out = tmp_path / "logview.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "logview_bench.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]  # 1: target missed (noisy CI)
    assert "| buffer arrays per entry |" in result.stdout
    figures = json.loads(out.read_text())
    assert figures["entries"] == 20_000
    assert 0 < figures["memory"]["nbytes_per_entry"] < 200
    for name in ("status (failed)", "feed", "time range (1 h)", "text (part of a request id)"):
        case = figures["filters"][name]
        assert case["median_ms"] > 0, name
        assert case["floor_median_ms"] > 0, name
    assert figures["sandbox_load"]["entries"] >= 5000
    assert figures["sandbox_load"]["entries_per_s"] > 0


def test_import_benchmark_runs_both_sides_and_reports_the_ratio(tmp_path: Path) -> None:
    out = tmp_path / "import.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "import_bench.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]  # 1: target missed (noisy CI)
    assert "file to every row found by q" in result.stdout
    figures = json.loads(out.read_text())
    assert figures["rows"] == 20_000
    assert figures["floor"]["rows_per_s"] > 0
    assert figures["sandbox"]["imported_s"] <= figures["sandbox"]["queryable_s"]
    assert figures["ratio"] == figures["sandbox"]["queryable_s"] / figures["floor"]["queryable_s"]


@pytest.mark.slow
def test_ingest_benchmark_runs_the_uploader_the_loop_and_the_floor(tmp_path: Path) -> None:
    out = tmp_path / "ingest.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ingest_bench.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]  # 1: target missed (noisy CI)
    assert "file to every record applied" in result.stdout
    figures = json.loads(out.read_text())
    assert figures["records"] == 20_000
    for name in ("uploader", "sequential", "floor", "floor_records_only"):
        assert figures[name]["items_per_s"] > 0, name
    assert figures["uploader"]["accepted_s"] <= figures["uploader"]["applied_s"]
    assert figures["ratio"] == figures["uploader"]["applied_s"] / figures["floor"]["applied_s"]


@pytest.mark.slow
def test_logs_benchmark_measures_every_case_with_its_floor(tmp_path: Path) -> None:
    out = tmp_path / "logs.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "logs_bench.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]  # 1: target missed (noisy CI)
    assert "| bare Starlette + uvicorn, empty route" in result.stdout
    figures = json.loads(out.read_text())
    assert figures["entries"] == 20_000
    cases = figures["cases"]
    for name in ("no filter", "feed", "q (a word)", "page 2 (cursor)", "detail"):
        assert cases[name]["statuses"] == {"200": 10}, (name, cases[name])
        assert cases[name]["floor"]["p50_ms"] > 0, name
    for kind in ("request id", "correlation id", "idempotency key", "record GUID", "system id"):
        assert cases[f"trace: {kind}"]["statuses"] == {"200": 10}, kind
    assert figures["bare_starlette"]["p50_ms"] > 0


@pytest.mark.slow
def test_logview_ui_benchmark_runs_the_real_tab_and_its_numpy_floor(tmp_path: Path) -> None:
    out = tmp_path / "logview_ui.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "logview_ui_bench.py"),
            "--quick",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["entries_held"] >= 20_000
    assert figures["changes_measured"] == 48
    for name in (
        "filter_to_repaint_ms_median",
        "floor_numpy_filter_ms_median",
        "text_filter_to_repaint_ms_median",
        "rss_mb_after_load",
    ):
        assert figures[name] > 0, name
    assert "filter change to repaint" in result.stdout


@pytest.mark.slow
def test_live_tail_benchmark_measures_the_stall_against_its_floor(tmp_path: Path) -> None:
    out = tmp_path / "logs_tail.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "logs_tail_bench.py"),
            "--quick",
            "--preload",
            "20000",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]  # 1: target missed (noisy CI)
    assert "longest UI stall, wall (ms)" in result.stdout
    figures = json.loads(out.read_text())
    assert figures["tail"]["ticks"] > 0
    assert figures["floor"]["ticks"] > 0
    # Every entry the stream delivered reached the buffer once, none dropped.
    assert figures["received"] > 0
    assert figures["added"] + figures["pending_at_end"] == figures["received"]
    assert (figures["dropped"], figures["skipped"]) == (0, 0)
    assert figures["generated"]["direct"] > 0


@pytest.mark.slow
def test_find_by_id_benchmark_times_each_kind_of_id_against_a_bare_get(tmp_path: Path) -> None:
    out = tmp_path / "find.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "find_by_id_bench.py"),
            "--quick",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]  # 1: target missed (noisy CI)
    assert "paste + Enter to entries painted" in result.stdout
    figures = json.loads(out.read_text())
    assert figures["entries"] == 20_000
    for kind in ("correlation ID", "idempotency key", "request ID", "record GUID", "system id"):
        console, floor = figures["console"][kind], figures["floor"][kind]
        assert len(console["runs_ms"]) == len(floor["runs_ms"]) == 2, kind
        assert all(count >= 1 for count in console["entries_shown"]), kind
        # Both timed (which is faster is the idle machine's figure, not a smoke test's:
        # two runs on a loaded CI machine can put one load burst in the floor's).
        assert floor["median_ms"] > 0, kind
        assert console["median_ms"] > 0, kind
    assert figures["console"]["first_find"]["entries"] == 1
