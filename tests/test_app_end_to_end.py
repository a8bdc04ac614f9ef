"""The console as a user starts it: `--sandbox --screenshots DIR` in a child process."""

from __future__ import annotations

import os
import signal
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.config.secrets import SANDBOX_KEY_FILE


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


@pytest.mark.slow
def test_sandbox_screenshots_run_exits_0_and_leaves_no_secret_behind(tmp_path: Path) -> None:
    home = tmp_path / "home"
    data = tmp_path / "sandbox-data"
    shots = tmp_path / "shots"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "INTEGRATION_CONSOLE_HOME": str(home),
        # A bare Linux box: no keychain at all, so the sandbox key uses its 0600 file.
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    argv = [sys.executable, "-m", "console", "--sandbox", "--data", str(data)]

    def screenshots_run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*argv, "--screenshots", str(shots)],
            capture_output=True,
            text=True,
            timeout=90,
            env=env,
        )

    result = screenshots_run()
    assert result.returncode == 0, result.stderr[-3000:]
    pngs = sorted(shots.glob("*.png"))
    assert [p.name for p in pngs] == [
        "01-api-keys.png",
        "02-pipelines.png",
        "03-records.png",
        "04-ingest-logs.png",
        "05-production-band.png",  # the same server connected as a production profile
    ]
    assert all(_png_size(p) == (1280, 800) for p in pngs)

    key_file = data / SANDBOX_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    secret = key_file.read_text().strip()
    assert secret.startswith("fdk_")
    assert len(secret) == 44
    settings = home / "config" / "settings.json"
    log_file = home / "state" / "logs" / "console.log"
    assert settings.exists()
    assert log_file.exists()
    # (PNGs hold pixels, not text: the screenshot guard is tested on the live window in
    # tests/ui/test_keys_tab.py.)
    for path in (settings, log_file):
        assert secret.encode() not in path.read_bytes(), path
        assert secret[4:-4].encode() not in path.read_bytes(), path
    assert secret not in result.stdout + result.stderr
    assert '"Sandbox"' in settings.read_text()

    # Second start reuses the key and the demo data instead of minting again.
    again = screenshots_run()
    assert again.returncode == 0, again.stderr[-3000:]
    assert key_file.read_text().strip() == secret


def test_usage_errors_exit_2_with_a_message() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "console", "--screenshots", "x"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 2
    assert "--screenshots needs --sandbox or --url" in result.stderr


def _pids_with(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline and "sandbox serve" in cmdline:
                pids.append(int(entry.name))
    return pids


def _start_console_on_sandbox(tmp_path: Path, data: Path) -> subprocess.Popen[bytes]:
    """`integration-console --sandbox` offscreen, with its own home and no keychain."""
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "INTEGRATION_CONSOLE_HOME": str(tmp_path / "home"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "console", "--sandbox", "--data", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )


def _wait_for_the_sandbox_child(console: subprocess.Popen[bytes], data: Path) -> None:
    """Until the console has keyed its sandbox child (or failed, with its stderr)."""
    deadline = time.monotonic() + 60
    while not ((data / SANDBOX_KEY_FILE).exists() and _pids_with(str(data))):
        assert console.poll() is None, console.stderr.read() if console.stderr else ""
        assert time.monotonic() < deadline, "the sandbox never started"
        time.sleep(0.05)  # polling another process's state, not our own code


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_the_sandbox_child_never_outlives_the_console(tmp_path: Path, how: signal.Signals) -> None:
    """However the console ends, its sandbox server goes with it."""
    data = tmp_path / "sandbox-data"
    console = _start_console_on_sandbox(tmp_path, data)
    try:
        _wait_for_the_sandbox_child(console, data)
        console.send_signal(how)
        code = console.wait(timeout=30)
        if how == signal.SIGTERM:
            assert code == 0, "SIGTERM closes the window cleanly"
        deadline = time.monotonic() + 15
        while _pids_with(str(data)):
            assert time.monotonic() < deadline, "the sandbox child was orphaned"
            time.sleep(0.05)
    finally:
        if console.poll() is None:
            console.kill()
        console.wait(timeout=10)
        if console.stderr:
            console.stderr.close()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_closing_does_not_wait_for_the_sandbox_child_which_then_stops_by_itself(
    tmp_path: Path,
) -> None:
    """The window closes at once; the child stops on its own when its stdin closes.

    The child is frozen (SIGSTOP) before the console is asked to close, so a console that
    waited for it would hang until its timeouts ran out.
    """
    data = tmp_path / "sandbox-data"
    console = _start_console_on_sandbox(tmp_path, data)
    child: int | None = None
    try:
        _wait_for_the_sandbox_child(console, data)
        (child,) = _pids_with(str(data))
        os.kill(child, signal.SIGSTOP)
        console.send_signal(signal.SIGTERM)  # closes the window: the normal exit path
        assert console.wait(timeout=8) == 0, "the console waited for its sandbox child"
        assert child in _pids_with(str(data))  # still there, frozen
        os.kill(child, signal.SIGCONT)
        deadline = time.monotonic() + 15
        while _pids_with(str(data)):
            assert time.monotonic() < deadline, "the sandbox child did not stop at stdin EOF"
            time.sleep(0.05)
        child = None
    finally:
        if child is not None:
            os.kill(child, signal.SIGCONT)
        if console.poll() is None:
            console.kill()
        console.wait(timeout=10)
        if console.stderr:
            console.stderr.close()
