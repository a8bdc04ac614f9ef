"""The layering of ARCHITECTURE.md: model packages never import Qt; the build fails if they do."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_model_layers_import_without_qt() -> None:
    code = textwrap.dedent(
        """
        import sys, pkgutil, importlib
        import console.api, console.definition, console.sandbox, console.config
        for package in (console.api, console.definition, console.sandbox, console.config):
            for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
                importlib.import_module(module.name)
        import console.common.redaction, console.app.launcher, console.app.logging_setup
        qt = ("PySide6", "qasync", "shiboken6")
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in qt)
        ui = sorted(m for m in sys.modules if m.startswith("console.ui") or m == "console.app.main")
        assert not leaked and not ui, (leaked, ui)
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_gui_process_does_not_import_the_server_stack_to_start() -> None:
    """The window's first paint must not pay for Starlette and uvicorn (they run in the child)."""
    code = textwrap.dedent(
        """
        import os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        import console.app.main, console.ui.main_window, console.app.launcher
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("starlette", "uvicorn"))
        assert not heavy, heavy
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_import_linter_contracts_hold() -> None:
    from pathlib import Path

    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
