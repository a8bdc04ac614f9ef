"""The PyInstaller build: what it carries, its size, and that it runs like the source.

Marked `frozen`: it builds the onedir app once per session (20-90 s); `pytest -m "not
frozen"` skips it for quick local runs. CI (.ci/run) runs it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.definition.test_positions import YAML_WITH_UNKNOWN_KEY_ON_LINE_14
from tests.test_ingest_command import FEED, interrupt_and_resume

pytestmark = [pytest.mark.frozen, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "packaging"))
import build as packaging_build  # noqa: E402

SIZE_LIMIT_MIB = 130
KEPT_PLATFORMS = {"libqxcb.so", "libqwayland.so", "libqoffscreen.so", "libqminimal.so"}


@pytest.fixture(scope="session")
def frozen_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The onedir build, made once for the session with packaging/build.py."""
    out = tmp_path_factory.mktemp("pyinstaller")
    app = packaging_build.build(dist=out / "dist", work=out / "build")
    assert (app / "integration-console").is_file()
    return app


@pytest.fixture
def frozen_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: own XDG folders, offscreen, no developer PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "XDG_"))}
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        (tmp_path / name).mkdir()
        env[name] = str(tmp_path / name)
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def _exe(app: Path) -> str:
    return str(app / "integration-console")


def test_the_bundle_carries_only_what_the_console_uses(frozen_app: Path) -> None:
    files = [p.relative_to(frozen_app).as_posix() for p in frozen_app.rglob("*")]
    text = "\n".join(files)
    for unwanted in (
        "QtWebEngine",
        "QtQml",
        "QtQuick",
        "QtNetwork",
        "libQt6Network",
        "translations/",
        "QtPdf",
        "Qt6Designer",
        "libqgtk3",
        "libqeglfs",
        "libqvnc",
        "libqlinuxfb",
        "libqvkkhrdisplay",
        "libqminimalegl",
    ):
        assert unwanted not in text, [f for f in files if unwanted in f]
    platforms = {Path(f).name for f in files if "/plugins/platforms/" in f}
    assert platforms == KEPT_PLATFORMS
    # What must not be dropped: Wayland's GL integration and the adwaita decoration.
    assert any(f.endswith("libQt6OpenGL.so.6") for f in files)
    assert any(f.endswith("libQt6Svg.so.6") for f in files)
    assert [p for p in frozen_app.rglob("*") if p.is_symlink() and not p.exists()] == []
    # The small ICU data (packaging/icu_data.py), not PySide6's 31 MiB one.
    [icu] = [p for p in frozen_app.rglob("libicudata.so.*") if not p.is_symlink()]
    assert icu.stat().st_size < 2 * 2**20
    desktop = frozen_app / "share" / "applications" / "integration-console.desktop"
    assert "Exec=integration-console" in desktop.read_text(encoding="utf-8")


def test_the_onedir_build_is_at_most_130_mib(frozen_app: Path) -> None:
    size = packaging_build.tree_size(frozen_app)
    assert size <= SIZE_LIMIT_MIB * 2**20, f"{size / 2**20:.1f} MiB"


def test_the_self_test_passes(frozen_app: Path, frozen_env: dict[str, str]) -> None:
    result = subprocess.run(
        [_exe(frozen_app), "--self-test"],
        env=frozen_env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-test passed" in result.stdout
    for check in (
        "FTS5",
        "keychain",
        "API Keys tab",
        "Pipelines tab",
        "Records tab",
        "Ingest Logs tab",
        "bulk ingest",
    ):
        assert f"ok   {check}:" in result.stdout, result.stdout


def test_without_a_display_it_says_so_in_one_line_and_exits_1(
    frozen_app: Path, frozen_env: dict[str, str]
) -> None:
    env = {
        k: v
        for k, v in frozen_env.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    result = subprocess.run([_exe(frozen_app)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "neither DISPLAY nor WAYLAND_DISPLAY is set" in result.stderr
    assert "Aborted" not in result.stderr


def test_frozen_validate_reports_file_line_col_and_exits_1(
    frozen_app: Path, frozen_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(YAML_WITH_UNKNOWN_KEY_ON_LINE_14, encoding="utf-8")
    result = subprocess.run(
        [_exe(frozen_app), "validate", str(path)],
        env=frozen_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith(f"{path}:14:5: error: unknown key 'colour'")


@pytest.fixture
def frozen_sandbox(
    frozen_app: Path, frozen_env: dict[str, str], tmp_path: Path
) -> Iterator[tuple[str, Path]]:
    """A frozen `sandbox serve` (no demo) on a free loopback port: (base URL, data dir)."""
    data = tmp_path / "sandbox"
    child = subprocess.Popen(
        [
            _exe(frozen_app),
            "sandbox",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data",
            str(data),
            "--stop-on-stdin-eof",
            "--ingest-burst",
            "1/1",
        ],
        env=frozen_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    url = None
    deadline = time.monotonic() + 60
    while url is None and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        if match := re.match(r"^listening on (http://\S+)$", line.strip()):
            url = match.group(1)
    assert url, "the frozen sandbox never said where it listens"
    try:
        yield url, data
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
        child.stdout.close()


def _mint(app: Path, env: dict[str, str], data: Path, kind: str, feed: str | None = None) -> str:
    argv = [
        _exe(app),
        "sandbox",
        "mint-key",
        "--data",
        str(data),
        "--account",
        "frozen",
        "--kind",
        kind,
    ]
    if feed:
        argv += ["--feed", feed]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_frozen_sandbox_serve_answers_on_loopback(
    frozen_app: Path, frozen_env: dict[str, str], frozen_sandbox: tuple[str, Path]
) -> None:
    url, data = frozen_sandbox
    assert url.startswith("http://127.0.0.1:")
    admin = _mint(frozen_app, frozen_env, data, "admin")
    request = urllib.request.Request(
        f"{url}/api/public/v1/keys", headers={"Authorization": f"Bearer {admin}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        body = json.loads(response.read())
    assert any(key["prefix"] == admin[:4] for key in body["data"])


def test_frozen_ingest_resumes_an_interrupted_upload(
    frozen_app: Path,
    frozen_env: dict[str, str],
    frozen_sandbox: tuple[str, Path],
    tmp_path: Path,
) -> None:
    url, data = frozen_sandbox
    ingest = _mint(frozen_app, frozen_env, data, "ingest", FEED)
    admin = _mint(frozen_app, frozen_env, data, "admin")
    interrupt_and_resume([_exe(frozen_app)], frozen_env, url, ingest, admin, tmp_path)


def test_the_frozen_start_up_benchmark_times_both_side_by_side(
    frozen_app: Path, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "frozen_startup_bench.py"),
            "--app",
            str(frozen_app),
            "--smoke",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads((tmp_path / "frozen_startup.json").read_text())
    for kind in ("frozen", "source"):
        for mark in ("first-paint", "screenshots-saved", "wall"):
            assert figures["median_ms"][f"{kind} {mark}"] > 0
    assert "whole process <= 1.1x" in result.stdout
