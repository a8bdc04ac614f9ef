"""Run the sandbox server as a child process and learn its URL.

Stdlib only, so the GUI can start a sandbox without importing Starlette or uvicorn.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

_LISTENING = re.compile(r"^listening on (http://\S+)$")


class SandboxStartError(RuntimeError):
    """The sandbox child exited or stayed silent before it accepted connections."""


def sandbox_command() -> list[str]:
    """Return the argv prefix that runs this installation's console entry point."""
    if getattr(sys, "frozen", False):
        # A PyInstaller build: the executable is the console itself.
        return [sys.executable]
    return [sys.executable, "-m", "console"]


class SandboxProcess:
    """A `sandbox serve` child on a free loopback port."""

    def __init__(
        self,
        data_dir: Path,
        *,
        demo: bool = True,
        rate_limit: str | None = None,
        host: str = "127.0.0.1",
        extra_env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.demo = demo
        self.rate_limit = rate_limit
        self.host = host
        self.extra_env = extra_env or {}
        self.extra_args = list(extra_args or [])
        self.base_url: str | None = None
        self._process: subprocess.Popen[str] | None = None
        self._stderr_tail: deque[str] = deque(maxlen=40)
        self._readers: list[threading.Thread] = []
        self._found: list[str] = []
        self._ready = threading.Event()
        self.spawned_at: float | None = None  # time.time() of the spawn and of the
        self.listening_at: float | None = None  # `listening on` line (start-up traces)

    def start(self, timeout: float = 20.0) -> str:
        """Start the child, wait for its `listening on` line and return the base URL."""
        self.spawn()
        return self.wait_until_listening(timeout)

    def spawn(self) -> None:
        """Start the child and return at once (the console overlaps its start-up)."""
        argv = [
            *sandbox_command(),
            "sandbox",
            "serve",
            "--host",
            self.host,
            "--port",
            "0",
            "--data",
            str(self.data_dir),
            "--stop-on-stdin-eof",
        ]
        if self.demo:
            argv.append("--demo")
        if self.rate_limit:
            argv += ["--rate-limit", self.rate_limit]
        argv += self.extra_args
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.extra_env}
        # We hold the child's stdin: if this process dies in any way, the pipe closes
        # and the child shuts down instead of living on as an orphan.
        self.spawned_at = time.time()
        self._process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        found = self._found
        ready = self._ready
        stdout = self._process.stdout
        stderr = self._process.stderr
        assert stdout is not None
        assert stderr is not None

        def read_stdout() -> None:
            for line in stdout:
                match = _LISTENING.match(line.strip())
                if match and not found:
                    self.listening_at = time.time()
                    found.append(match.group(1))
                    ready.set()
            ready.set()  # EOF: the child exited

        def read_stderr() -> None:
            for line in stderr:
                self._stderr_tail.append(line.rstrip())

        self._readers = [
            threading.Thread(target=read_stdout, name="sandbox-stdout", daemon=True),
            threading.Thread(target=read_stderr, name="sandbox-stderr", daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def wait_until_listening(self, timeout: float = 20.0) -> str:
        """Wait for the spawned child's `listening on` line; return the base URL."""
        self._ready.wait(timeout)
        if not self._found:
            self.stop()
            tail = "\n".join(self._stderr_tail)
            raise SandboxStartError(
                f"the sandbox server did not start within {timeout:.0f} s"
                + (f"; its last output:\n{tail}" if tail else "")
            )
        self.base_url = self._found[0]
        return self.base_url

    @property
    def pid(self) -> int | None:
        """The child's process id, once started."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """Whether the child is alive."""
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop the child cleanly; return its exit code.

        Closing its stdin is the graceful path on every OS; SIGTERM follows if it is
        still running after `timeout`, and a kill after that.
        """
        process = self._process
        if process is None:
            return None
        if process.stdin is not None and not process.stdin.closed:
            with contextlib.suppress(OSError):
                process.stdin.close()
        if process.poll() is None:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                if sys.platform == "win32":
                    process.terminate()
                else:
                    process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        # The readers hit EOF once the child is gone; close the pipes after them, or the
        # garbage collector reports them as leaked (a ResourceWarning, an error in tests).
        for reader in self._readers:
            reader.join(timeout)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        return process.returncode

    def release(self) -> None:
        """Close the child's stdin and return at once: it stops by itself at EOF.

        What the console does on close, instead of `stop`: the child finishes its
        shutdown on its own while its lock on the data dir keeps another server off it.
        """
        process = self._process
        if process is not None and process.stdin is not None and not process.stdin.closed:
            with contextlib.suppress(OSError):
                process.stdin.close()

    def stderr_tail(self) -> str:
        """The last lines the child wrote to stderr, for error messages."""
        return "\n".join(self._stderr_tail)
