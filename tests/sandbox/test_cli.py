"""`sandbox serve` and `sandbox mint-key` as real processes."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from console.sandbox.cli import main
from console.sandbox.process import SandboxProcess

LISTENING = re.compile(r"^listening on http://127\.0\.0\.1:(\d+)$")
ADMIN_SECRET = re.compile(r"^fdk_[A-Za-z0-9]{40}$")


def console(*args: str) -> list[str]:
    """argv running `python -m console sandbox ARGS`."""
    return [sys.executable, "-m", "console", "sandbox", *args]


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A `sandbox serve --port 0` child whose first stdout line has been read."""
    process = subprocess.Popen(
        console("serve", "--host", "127.0.0.1", "--port", "0", "--data", str(tmp_path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def test_serve_announces_its_real_port_and_exits_0_on_sigterm(
    server_process: subprocess.Popen[str],
) -> None:
    assert server_process.stdout is not None
    line = server_process.stdout.readline().strip()
    match = LISTENING.match(line)
    assert match, line
    port = int(match.group(1))
    assert port != 0
    response = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=10)
    assert response.status_code == 200
    server_process.send_signal(signal.SIGTERM)
    assert server_process.wait(timeout=10) == 0


def test_serve_exits_0_on_sigint(server_process: subprocess.Popen[str]) -> None:
    assert server_process.stdout is not None
    assert LISTENING.match(server_process.stdout.readline().strip())
    server_process.send_signal(signal.SIGINT)
    assert server_process.wait(timeout=10) == 0
    _, stderr = server_process.communicate(timeout=10)
    assert "Traceback" not in stderr


def test_mint_key_prints_only_a_working_secret_while_the_server_runs(
    sandbox: SandboxProcess, sandbox_url: str, account: str
) -> None:
    result = subprocess.run(
        console("mint-key", "--data", str(sandbox.data_dir), "--account", account),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("\n")
    secret = result.stdout.strip()
    assert ADMIN_SECRET.match(secret)
    assert result.stdout == secret + "\n"
    headers = {"Authorization": f"Bearer {secret}"}
    response = httpx.get(f"{sandbox_url}/api/public/v1/keys", headers=headers, timeout=10)
    assert response.status_code == 200
    assert response.json()["data"][0]["last4"] == secret[-4:]


def test_mint_ingest_key_creates_its_feed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["mint-key", "--data", str(tmp_path), "--account", "a", "--kind", "ingest"]
    assert main([*argv, "--feed", "orders", "--name", "Relay"]) == 0
    assert re.match(r"^ik_live_[A-Za-z0-9]{32}\n$", capsys.readouterr().out)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["mint-key", "--data", "DIR", "--account", "a", "--kind", "ingest"], "--feed"),
        (["mint-key", "--data", "DIR", "--account", "a", "--feed", "x"], "--kind ingest"),
        (["mint-key", "--data", "DIR", "--account", "a", "--kind", "x", "--feed", "f"], "kind"),
        (["serve", "--data", "DIR", "--host", "0.0.0.0"], "--allow-remote"),
        (["serve", "--data", "DIR", "--rate-limit", "fast"], "N/SECONDS"),
        (["serve", "--data", "DIR", "--port", "70000"], "port"),
        (["serve", "--data", "DIR", "--sync-seconds", "-1"], "seconds >= 0"),
        (["serve", "--data", "DIR", "--deploy-seconds", "soon"], "seconds >= 0"),
        (["serve", "--data", "DIR", "--pipeline-minute-seconds", "0"], "seconds > 0"),
        (["serve", "--data", "DIR", "--poll-seconds", "0"], "seconds > 0"),
        (["serve", "--data", "DIR", "--ingest-burst", "20"], "N/SECONDS"),
        (["serve", "--data", "DIR", "--demo-records", "-5"], "record count"),
        (["serve", "--data", "DIR", "--demo-records", "10000001"], "record count"),
        (["serve"], "--data"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(tmp_path) if arg == "DIR" else arg for arg in argv]
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""
    assert not list(tmp_path.iterdir())  # nothing was created


def test_stop_on_stdin_eof_shuts_down_cleanly_when_the_parent_goes(tmp_path: Path) -> None:
    process = subprocess.Popen(
        console("serve", "--port", "0", "--data", str(tmp_path), "--stop-on-stdin-eof"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdin is not None
        assert LISTENING.match(process.stdout.readline().strip())
        process.stdin.close()  # what the OS does when the parent dies, even by SIGKILL
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def test_sandbox_process_stop_is_graceful(tmp_path: Path) -> None:
    server = SandboxProcess(tmp_path, demo=False)
    server.start()
    assert server.running
    assert server.stop(timeout=10) == 0
    assert not server.running


def test_one_server_per_data_dir_a_second_waits_then_refuses(tmp_path: Path) -> None:
    first = SandboxProcess(tmp_path, demo=False)
    first.start()
    try:
        second = subprocess.run(
            console("serve", "--port", "0", "--data", str(tmp_path), "--wait-for-data", "0.3"),
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert second.returncode == 1
        assert f"another sandbox server (pid {first.pid}) is using {tmp_path}" in second.stderr
        assert "Traceback" not in second.stderr
        assert second.stdout == ""
        # The lock keeps servers apart, not tools: mint-key works while one runs.
        minted = subprocess.run(
            console("mint-key", "--data", str(tmp_path), "--account", "a"),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert minted.returncode == 0, minted.stderr
        assert ADMIN_SECRET.match(minted.stdout.strip())
        assert first.running
    finally:
        first.stop()
    again = SandboxProcess(tmp_path, demo=False)
    again.start()
    try:
        assert again.running
    finally:
        again.stop()


def test_a_second_server_waiting_for_the_data_dir_starts_once_the_first_stops(
    tmp_path: Path,
) -> None:
    first = SandboxProcess(tmp_path, demo=False)
    first.start()
    waiting = subprocess.Popen(
        console("serve", "--port", "0", "--data", str(tmp_path), "--wait-for-data", "60"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert first.stop() == 0
        assert waiting.stdout is not None
        assert LISTENING.match(waiting.stdout.readline().strip())
        waiting.send_signal(signal.SIGTERM)
        assert waiting.wait(timeout=10) == 0
    finally:
        if waiting.poll() is None:
            waiting.kill()
        waiting.communicate(timeout=10)
