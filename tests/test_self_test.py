"""--self-test's verdict: a failed check or unexpected stderr fails it, by name."""

from __future__ import annotations

import io

from console.app.self_test import StepResult, check_fts5, report, unexpected_stderr


def test_known_platform_noise_is_not_unexpected_but_anything_else_is() -> None:
    text = (
        "This plugin does not support propagateSizeHints()\n\n"
        "Traceback (most recent call last):\n"
        "This plugin does not support propagateSizeHints()\n"
    )
    assert unexpected_stderr(text) == ["Traceback (most recent call last):"]


def test_the_verdict_names_the_failed_check_or_stderr() -> None:
    passed = [StepResult("FTS5", True, "ok", 0.01), StepResult("keychain", True, "ok", 0.0)]
    out = io.StringIO()
    assert report(passed, [], out) == 0
    assert "self-test passed: 2 checks" in out.getvalue()

    out = io.StringIO()
    assert report([*passed, StepResult("Records tab", False, "no feed", 0.2)], [], out) == 1
    assert "FAIL Records tab: no feed" in out.getvalue()
    assert "self-test failed: Records tab" in out.getvalue()

    out = io.StringIO()
    assert report(passed, ["QObject: Cannot create children"], out) == 1
    assert "self-test failed: stderr" in out.getvalue()
    assert "QObject: Cannot create children" in out.getvalue()


def test_fts5_check_runs_a_real_match() -> None:
    assert "FTS5" in check_fts5()
