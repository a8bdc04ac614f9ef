"""PySide6's per-import check keeps its answers but no longer leaves each imported
module's source lines in linecache (console.app.qt_sources)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import json, linecache, sys
if sys.argv[1] == "patched":
    from console.app.qt_sources import keep_qt_from_caching_sources
    keep_qt_from_caching_sources()
    keep_qt_from_caching_sources()  # twice: wrapped once
import PySide6.QtWidgets
import console.ui.main_window, console.ui.logs.tab
feature = sys.modules["shibokensupport.feature"]
cached = [name for name in linecache.cache if "console" in name]
print(json.dumps({"answers": feature.pyside_feature_dict, "cached": cached}))
"""


def probe(mode: str) -> dict[str, object]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=300,
    )
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_imported_modules_sources_are_not_kept_and_the_pyside_check_answers_the_same() -> None:
    plain, patched = probe("plain"), probe("patched")
    assert plain["cached"], "without the fix the console's sources stay in linecache"
    assert patched["cached"] == []
    assert patched["answers"] == plain["answers"]
    answers = patched["answers"]
    assert isinstance(answers, dict)
    assert answers["console.ui.tasks"] == 0  # uses PySide6
    assert answers["console.common.contract"] == -1  # does not
