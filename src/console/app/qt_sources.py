"""Keep PySide6's import hook from holding every module's source text in memory.

Once shiboken6 is loaded, each module imported afterwards is checked for the text
"PySide6" in its source (`shibokensupport.feature._mod_uses_pyside`, PYSIDE-2029), read
with `inspect.getsource`, which keeps every file's lines in `linecache` for good. For the
console that is ~320 files, ~16 MB of str objects (measured with sys.getsizeof), and
clearing the cache afterwards gives back nothing (the freed lines are scattered among
live objects in the interpreter's memory pools): RSS 93 -> 78 MB with the tab's modules
imported when the lines are dropped as they are read. The check itself is kept; only the
lines it read are dropped from the cache (tracebacks read them again when needed).
"""

from __future__ import annotations

import linecache
import sys
from collections.abc import Callable
from types import ModuleType

_WRAPPED = "_console_drops_sources"


def keep_qt_from_caching_sources() -> None:
    """Make shiboken6's per-import check drop the source lines it read (call before
    PySide6 and the modules using it are imported; once is enough, more do nothing)."""
    import shiboken6  # noqa: F401  (loads the feature module it checks imports with)

    feature = sys.modules.get("shibokensupport.feature")
    check = getattr(feature, "_mod_uses_pyside", None)
    if feature is None or check is None or getattr(check, _WRAPPED, False):
        return
    feature._mod_uses_pyside = _dropping_lines(check)  # type: ignore[attr-defined]
    linecache.clearcache()  # what it read so far (PySide6's own few modules)


def _dropping_lines(check: Callable[[ModuleType], bool]) -> Callable[[ModuleType], bool]:
    """`check`, with the linecache entries it added removed afterwards (the cache stays
    small, so the copy of its keys is cheap)."""

    def uses_pyside(module: ModuleType) -> bool:
        before = set(linecache.cache)
        try:
            return check(module)
        finally:
            for filename in [name for name in linecache.cache if name not in before]:
                linecache.cache.pop(filename, None)

    setattr(uses_pyside, _WRAPPED, True)
    return uses_pyside
