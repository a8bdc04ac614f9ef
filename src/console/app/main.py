"""Build the QApplication, the qasync loop, the services and the window, then run."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from console import __version__

API_KEY_ENV = "INTEGRATION_CONSOLE_API_KEY"
BENCH_T0_ENV = "INTEGRATION_CONSOLE_BENCH_T0"
SCREENSHOT_SIZE = (1280, 800)

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The GUI's command line (sub-commands such as `sandbox` are dispatched earlier)."""
    from console.config.profiles import ENVIRONMENTS

    parser = argparse.ArgumentParser(
        prog="integration-console",
        description="Desktop admin console for the data-integration platform.",
        epilog=(
            "Sub-commands: `integration-console sandbox serve|mint-key ...` "
            "(see `integration-console sandbox --help`)."
        ),
    )
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="start the embedded sandbox server (demo data on first run) and connect to it",
    )
    parser.add_argument("--data", type=Path, help="sandbox data directory (with --sandbox)")
    parser.add_argument("--profile", help="connect to this saved connection profile")
    parser.add_argument(
        "--url",
        help=f"connect to this API base URL with the key in ${API_KEY_ENV} (never saved)",
    )
    parser.add_argument(
        "--environment",
        choices=ENVIRONMENTS,
        help="what --url points at (default production: read-only until you unlock writes)",
    )
    parser.add_argument(
        "--screenshots",
        type=Path,
        metavar="DIR",
        help="save a 1280x800 PNG of each tab into DIR and exit (with --sandbox or --url)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help=(
            "start the embedded sandbox, open the window offscreen, do a round trip on every "
            "tab, check FTS5 and the keychain; exit 0 when all passed"
        ),
    )
    parser.add_argument(
        "--exit-after",
        choices=("first-paint", "keys-loaded"),
        help=argparse.SUPPRESS,  # start-up benchmark: print timings and exit
    )
    return parser


def main(argv: list[str]) -> int:
    """Run the GUI; returns the exit code of a usage error, else ends the process."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.data and not args.sandbox:
        parser.error("--data goes with --sandbox")
    if args.screenshots and not (args.sandbox or args.url):
        parser.error("--screenshots needs --sandbox or --url")
    api_key = os.environ.get(API_KEY_ENV, "")
    if args.environment and not args.url:
        parser.error("--environment goes with --url (a saved profile has its own)")
    if args.url and not api_key:
        parser.error(f"--url needs the admin key in the environment variable {API_KEY_ENV}")

    self_test_work: Path | None = None
    if args.self_test:
        if args.sandbox or args.url or args.profile or args.screenshots:
            parser.error("--self-test runs on its own sandbox: give it no other option")
        import tempfile

        from console.app.self_test import prepare_environment

        # Its own sandbox and settings in a temporary folder, offscreen: never the user's.
        self_test_work = Path(tempfile.mkdtemp(prefix="integration-console-self-test-"))
        prepare_environment(self_test_work)
        args.sandbox = True
        args.data = self_test_work / "sandbox"

    from console.app.platform_check import startup_problem

    problem = startup_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 1

    from console.common.heap import share_one_heap

    share_one_heap()  # before the first thread (see the module)
    from console.config.paths import AppPaths
    from console.config.secrets import SecretStore

    paths = AppPaths.from_environment()
    secrets = SecretStore()
    launcher = None
    stderr_capture = contextlib.ExitStack()
    read_stderr = None
    if self_test_work is not None:
        from console.app.self_test import captured_stderr

        # Before the sandbox child starts, so what it prints is checked too.
        read_stderr = stderr_capture.enter_context(captured_stderr())
    # Start-up overlaps its waits: the sandbox child starts (on the other core) while
    # this thread imports Qt and paints the window. A thread reads the keychain and
    # imports httpx, but only once the window has painted: those are imports (~120 ms
    # of Python), which would share the GIL with this thread's and delay the paint.
    first_paint = threading.Event()
    if args.sandbox:
        from console.app.launcher import SandboxLauncher

        launcher = SandboxLauncher((args.data or paths.default_sandbox_dir).expanduser(), secrets)
        launcher.start(then=_import_sandbox_client, not_before=first_paint)
    else:
        threading.Thread(
            target=_warm_up, args=(secrets, first_paint), name="start-up", daemon=True
        ).start()

    # PySide6 before qasync, so qasync binds to it (STACK_NOTES 2). asyncio comes with
    # them: imported at the top it would delay the sandbox child's spawn by ~40 ms.
    os.environ.setdefault("QT_API", "pyside6")
    import asyncio
    import concurrent.futures

    from console.app.qt_sources import keep_qt_from_caching_sources

    keep_qt_from_caching_sources()  # ~15 MB of source lines otherwise (see the module)
    import qasync
    from PySide6.QtWidgets import QApplication

    _mark("qt-imported")

    from console.app.logging_setup import hold_early_records
    from console.config.profiles import SettingsStore

    # The log file opens after the first paint; what is logged before waits for it.
    early_log = hold_early_records()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Integration Console")
    app.setOrganizationName("integration-console")
    # Closing the window must not stop the loop before shutdown has run (STACK_NOTES 2).
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    # asyncio.to_thread (file reads of an upload, an export's writes) runs on plain threads,
    # as in the tests (tests/ui/conftest.py), not on qasync's QThreadExecutor.
    loop.set_default_executor(
        concurrent.futures.ThreadPoolExecutor(thread_name_prefix="console-io")
    )
    asyncio.set_event_loop(loop)
    settings_store = SettingsStore(paths.settings_file)
    with loop:
        exit_code = int(
            loop.run_until_complete(
                run_console(
                    args,
                    app,
                    secrets,
                    settings_store,
                    paths,
                    api_key,
                    launcher,
                    first_paint,
                    early_log,
                )
            )
        )
        if self_test_work is not None and read_stderr is not None:
            exit_code = _finish_self_test(args, read_stderr, stderr_capture, self_test_work)
        _exit_now(exit_code)


def _finish_self_test(
    args: argparse.Namespace,
    read_stderr: Callable[[], str],
    capture: contextlib.ExitStack,
    work: Path,
) -> int:
    """Judge the self-test: its checks and what reached stderr; remove its folder."""
    import shutil

    from console.app.self_test import report, unexpected_stderr

    logging.shutdown()  # flush anything still buffered into the capture
    stray = unexpected_stderr(read_stderr())
    capture.close()
    code = report(getattr(args, "self_test_results", []), stray)
    shutil.rmtree(work, ignore_errors=True)
    return code


def _import_http_client(tls: bool = True) -> None:
    """Import the API client's stack and build its SSL context, off the UI thread."""
    from console.api.transport import warm_up_http_client

    warm_up_http_client(tls=tls)


def _import_sandbox_client() -> None:
    """As `_import_http_client`, for the sandbox: plain http on loopback, no TLS."""
    _import_http_client(tls=False)


def _warm_up(secrets: object, not_before: threading.Event) -> None:
    """Resolve the keychain backend and import httpx, off the UI thread, after the paint."""
    from console.app.launcher import NOT_BEFORE_LIMIT
    from console.config.secrets import SecretStore

    assert isinstance(secrets, SecretStore)
    not_before.wait(NOT_BEFORE_LIMIT)
    try:
        _ = secrets.persistent
        _import_http_client()
    except Exception:
        log.exception("start-up warm-up failed (the first use will retry)")


def _exit_now(exit_code: int) -> NoReturn:
    """End the process once logs and output are flushed, without interpreter teardown.

    Everything worth keeping is written by now (settings and drafts on close, the log
    flushed here); tearing down Qt and every module only costs time (~165 ms). The
    sandbox child needs no wait either: our end closes its stdin and it stops itself.
    """
    _mark("exit")
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(exit_code)


async def run_console(
    args: argparse.Namespace,
    app: object,
    secrets: object,
    settings_store: object,
    paths: object,
    api_key: str,
    launcher: object = None,
    first_paint: threading.Event | None = None,
    early_log: object = None,
) -> int:
    """Show the window, connect as asked, and wait until it closes."""
    import asyncio

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from console.config.paths import AppPaths
    from console.config.profiles import SettingsStore
    from console.config.secrets import SecretStore
    from console.ui.main_window import MainWindow
    from console.ui.tasks import signal_future

    assert isinstance(app, QApplication)
    assert isinstance(secrets, SecretStore)
    assert isinstance(settings_store, SettingsStore)
    assert isinstance(paths, AppPaths)
    from console.app.launcher import SandboxLauncher

    def sandbox_for(data_dir: Path) -> SandboxLauncher:
        # The child started at process start serves the sandbox it was started for.
        if isinstance(launcher, SandboxLauncher) and launcher.data_dir.resolve() == data_dir:
            return launcher
        return SandboxLauncher(data_dir, secrets)

    window = MainWindow(secrets, settings_store, sandbox_factory=sandbox_for)
    _mark("window-built")
    _close_on_termination_signals(window)
    closed = signal_future(app.lastWindowClosed)
    exit_code = 0
    if os.environ.get(BENCH_T0_ENV) or args.exit_after:
        _report_startup(window, args.exit_after, launcher)
    window.resize(*SCREENSHOT_SIZE)
    started = False

    def start_connecting() -> None:
        """Open the log file, release the start-up thread and connect as asked (once)."""
        nonlocal started
        if started:
            return
        started = True
        from console.app.logging_setup import EarlyRecords, configure_logging

        configure_logging(
            paths.log_file, early=early_log if isinstance(early_log, EarlyRecords) else None
        )
        if first_paint is not None:
            first_paint.set()  # without a paint, the start-up thread's turn anyway
        try:
            _connect_as_asked(window, args, paths, api_key)
        except Exception as error:  # e.g. the settings file cannot be written
            log.exception("could not start connecting")
            window.show_error(error)

    if first_paint is not None:
        # At once, within the paint's signal: the keychain lookup gates the data, so it
        # starts ahead of the tabs the window builds in the turns after this paint.
        window.first_painted.connect(first_paint.set)
    # Connect only after the first paint (the window appears before httpx, keyring and
    # the sandbox child are paid for), in the turn right after it: queued here, within
    # the paint's signal, it runs before the tab building the window queues after it.
    window.first_painted.connect(lambda: QTimer.singleShot(0, start_connecting))
    painted = signal_future(window.first_painted)
    window.show()
    try:
        await asyncio.wait_for(painted, 2.0)
    except TimeoutError:
        log.warning("no paint event within 2 s of show(); connecting anyway")
    start_connecting()
    if args.self_test:
        exit_code = await _run_self_test(window, args, paths)
        window.close_keeping_drafts()
    if args.screenshots:
        from console.ui.screenshots import save_tab_screenshots

        try:
            await save_tab_screenshots(window, args.screenshots)
            _mark("screenshots-saved")
        except Exception as exc:
            log.exception("screenshots failed")
            print(f"screenshots failed: {exc}", file=sys.stderr)
            exit_code = 1
        window.close_keeping_drafts()
    await closed
    await window.shutdown()
    return exit_code


async def _run_self_test(window: object, args: argparse.Namespace, paths: object) -> int:
    """Wait for the sandbox connection, then run every check (results kept on `args`)."""
    import asyncio

    from console.app.self_test import STEP_TIMEOUT_S, StepResult, run_checks
    from console.ui.main_window import MainWindow
    from console.ui.tasks import signal_future

    assert isinstance(window, MainWindow)
    started = time.monotonic()
    ready = signal_future(window.connection_ready)
    failed = signal_future(window.connection_failed)
    done, _ = await asyncio.wait(
        {ready, failed}, timeout=STEP_TIMEOUT_S, return_when="FIRST_COMPLETED"
    )
    elapsed = time.monotonic() - started
    if ready not in done:
        why = "it failed" if failed in done else f"no connection within {STEP_TIMEOUT_S:.0f} s"
        args.self_test_results = [StepResult("sandbox", False, why, elapsed)]
        return 1
    first = StepResult("sandbox", True, "embedded sandbox started and connected", elapsed)
    assert args.data is not None
    args.self_test_results = [first, *await run_checks(window, Path(args.data).parent)]
    return 0 if all(result.passed for result in args.self_test_results) else 1


def _connect_as_asked(
    window: object, args: argparse.Namespace, paths: object, api_key: str
) -> None:
    """Connect to what the command line names, else the last profile, else ask."""
    from console.config.paths import AppPaths
    from console.ui.main_window import MainWindow

    assert isinstance(window, MainWindow)
    assert isinstance(paths, AppPaths)
    if args.sandbox:
        window.use_sandbox((args.data or paths.default_sandbox_dir).expanduser())
    elif args.url:
        window.connect_url(args.url, api_key, args.environment or "production")
    elif args.profile:
        profile = window.settings.profile(args.profile)
        if profile is None:
            window.show_error(RuntimeError(f"No connection profile called {args.profile!r}."))
        else:
            window.connect_profile(profile)
    elif window.settings.active_profile and (
        profile := window.settings.profile(window.settings.active_profile)
    ):
        window.connect_profile(profile)
    else:
        window.open_profiles_dialog()


def _close_on_termination_signals(window: object) -> None:
    """SIGTERM and Ctrl-C close the window, so shutdown stops the sandbox child too."""
    from PySide6.QtCore import QTimer

    from console.ui.main_window import MainWindow

    assert isinstance(window, MainWindow)

    def request_close(signum: int, frame: object) -> None:
        # No question to answer on the way out: edits are kept as drafts.
        QTimer.singleShot(0, window.close_keeping_drafts)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, request_close)
    # Python runs signal handlers only when it gets control; while Qt idles in C++ it
    # would not, so a cheap timer hands control back four times a second.
    heartbeat = QTimer(window)
    heartbeat.setInterval(250)
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start()


def _mark(name: str) -> None:
    """Print `NAME MS` (milliseconds since the benchmark's t0) when a benchmark asks."""
    t0 = os.environ.get(BENCH_T0_ENV)
    if t0:
        _mark_at(name, time.time(), float(t0))


def _mark_at(name: str, when: float, t0: float) -> None:
    print(f"{name} {(when - t0) * 1000:.1f}", flush=True)


def _report_startup(window: object, stop_after: str | None, launcher: object) -> None:
    """Print the start-up marks (first paint, sandbox child, first data); stop if asked."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from console.app.launcher import SandboxLauncher
    from console.ui.main_window import MainWindow

    assert isinstance(window, MainWindow)
    t0 = float(os.environ.get(BENCH_T0_ENV) or time.time())

    marked: set[str] = set()

    def mark(name: str) -> None:
        if name in marked:
            return  # the first time only (the production-band screenshot loads keys again)
        marked.add(name)
        if name == "keys-loaded" and isinstance(launcher, SandboxLauncher):
            process = launcher.process
            if process is not None and process.spawned_at and process.listening_at:
                _mark_at("sandbox-spawned", process.spawned_at, t0)
                _mark_at("sandbox-listening", process.listening_at, t0)
        _mark_at(name, time.time(), t0)
        if name == stop_after:
            QTimer.singleShot(0, QApplication.closeAllWindows)

    window.first_painted.connect(lambda: mark("first-paint"))
    window.keys_tab.keys_loaded.connect(lambda _count: mark("keys-loaded"))
