"""README opens with the two commands, and CI runs the second one verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_readme_opens_with_launch_and_test_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = text.index("```bash")
    assert text[:first_block].strip() == "# Integration Console"
    launch, test, *_ = _commands()
    assert "pip install" in launch
    assert launch.endswith("integration-console --sandbox")
    assert "[test]" in test
    assert test.endswith("pytest")


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert _commands()[1] in ci.splitlines()
    assert "-eq 5" in ci  # pytest's "no tests collected" must fail CI


def test_bench_figures_are_in_the_readme() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = re.search(r"cold start to first painted main window[^|]*\| (\d+) ms \|", text)
    assert start, "the start-up figure is missing from README"
    assert int(start.group(1)) <= 1000, "README's start-up figure misses the 1.0 s target"
    keystroke = re.search(r"UI-thread cost per keystroke[^|]*\| p95 ([\d.]+) ms", text)
    assert keystroke, "the per-keystroke figure is missing from README"
    assert float(keystroke.group(1)) <= 16, "README's keystroke p95 misses the 16 ms target"


def test_the_hardening_figures_are_in_the_readme_with_their_floors_and_ratios() -> None:
    """Each start-up and throughput figure stands beside its floor and ratio (the targets
    are judged by bench/, whose noisy runs the README quotes as they came)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for row in (
        r"cold start to first painted main window[^\n]*\| \d+ ms \| \d+ ms \([^|]*\| [\d.]+x",
        r"whole process, start to exit[^\n]*\| \d+ ms \| \d+ ms \| [\d.]+x",
        r"`GET /keys\?limit=1` throughput[^\n]*\| [\d,]+ req/s \| [\d,]+ req/s [^|]*\| [\d.]+x",
    ):
        assert re.search(row, text), f"README lacks a row matching {row}"
    wait = re.search(r"another account's `GET /keys\?limit=1` wait[^|]*\| max (\d+) ms", text)
    assert wait, "the tenancy wait is missing from README"
    assert int(wait.group(1)) <= 500, "README's other-account wait misses 0.5 s"


def test_the_records_figures_are_in_the_readme_with_their_floors() -> None:
    """Issue 11's targets: filter to first page <= 150 ms, scroll stall <= 50 ms, the 1M
    import <= 2x its floor; each figure beside the floor measured in the same run."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    filters = re.findall(
        r"\| (?:Records tab on a 1,000,000-record feed: filter change[^|]*|same, [^|]*)"
        r"\| ([\d.]+) ms \| ([\d.]+) ms[^|]*\| [\d.]+x \| ≤ 150 ms \|",
        text,
    )
    assert len(filters) == 4, "README lacks the four filter-to-first-page rows"
    assert all(float(figure) <= 150 for figure, _floor in filters)
    stall = re.search(r"longest UI event-loop stall while scrolling[^|]*\| ([\d.]+) ms", text)
    assert stall, "the scroll stall is missing from README"
    assert float(stall.group(1)) <= 50, "README's scroll stall misses 50 ms"
    imported = re.search(
        r"1,000,000-row CSV import[^|]*\| [\d.]+ s [^|]*\| [\d.]+ s \([^|]*\| ([\d.]+)x", text
    )
    assert imported, "the import figure with its floor and ratio is missing from README"
    assert float(imported.group(1)) <= 2, "README's import ratio misses 2x"
    lookup = re.search(r"server-side `system_id` lookup[^|]*\| [\d.]+ / [\d.]+ ms \| [\d.]+", text)
    assert lookup, "the server-side lookup figures (p50 / p95, with floor) are missing"


def test_the_ingest_and_log_figures_are_in_the_readme_with_their_floors() -> None:
    """Issue 12's targets: the 1M bulk ingest <= 2x its in-process floor; every GET /logs
    case, the detail and the trace p95 <= 100 ms at 1,000,000 entries."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    ingest = re.search(
        r"bulk ingest of 1,000,000 small records[^|]*\| [\d.]+ s [^|]*\| [\d.]+ s \([^|]*\| "
        r"([\d.]+)x",
        text,
    )
    assert ingest, "the bulk ingest figure with its floor and ratio is missing from README"
    assert float(ingest.group(1)) <= 2, "README's bulk ingest ratio misses 2x"
    p95s = re.findall(
        r"\| (?:`GET /logs|same|`GET /trace)[^|]*\| [\d.]+ / ([\d.]+) ms \|[^\n]*p95 ≤ 100 ms \|",
        text,
    )
    assert len(p95s) == 7, "README lacks the log list, detail and trace rows"
    assert all(float(p95) <= 100 for p95 in p95s), "a README log figure misses p95 100 ms"


def test_the_log_view_and_find_by_id_figures_are_in_the_readme_with_their_floors() -> None:
    """Issue 13's targets: filter change to repaint <= 30 ms at 1M entries, the live tail's
    longest stall <= 50 ms, Find by ID <= 1 s; RSS <= 200 MB is reported, met or missed."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    repaint = re.search(r"Ingest Logs tab holding 1,000,000 entries[^|]*\| ([\d.]+) ms", text)
    assert repaint, "the log view's filter-to-repaint figure is missing from README"
    assert float(repaint.group(1)) <= 30
    assert re.search(r"console RSS after the load[^|]*\| [\d.]+ MB[^\n]*≤ 200 MB", text)
    stall = re.search(
        r"live tail at 1,000 entries a second[^|]*\| ([\d.]+) ms[^|]*\| [\d.]+ ms", text
    )
    assert stall, "the live tail's stall figure with its floor is missing from README"
    assert float(stall.group(1)) <= 50
    finds = re.findall(
        r"\| (?:Find by ID with 1,000,000|same, an idempotency key replayed)"
        r"[^|]*\| ([\d.]+) ms \| [\d.]+ ms",
        text,
    )
    assert len(finds) == 2, "README lacks the Find by ID rows"
    assert all(float(ms) <= 1000 for ms in finds)
