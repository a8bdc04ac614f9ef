"""Start-up checks that turn a Qt abort into a message saying what to install."""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping, Sequence

# Qt 6.5+'s xcb plugin links these; without any of them Qt aborts the process with a
# generic "could not load the Qt platform plugin" (measured on Debian 12).
XCB_LIBRARIES: tuple[tuple[str, str], ...] = (
    ("libxcb-cursor.so.0", "libxcb-cursor0"),
    ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
)


def uses_xcb(environ: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether Qt will pick its xcb (X11) platform plugin in this environment."""
    if not platform.startswith("linux"):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(":")[0] == "xcb"
    return bool(environ.get("DISPLAY")) and not environ.get("WAYLAND_DISPLAY")


def missing_libraries(libraries: Sequence[tuple[str, str]] = XCB_LIBRARIES) -> list[str]:
    """The Debian package names of the libraries that cannot be loaded."""
    missing = []
    for soname, package in libraries:
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(package)
    return missing


def xcb_problem(
    environ: Mapping[str, str] | None = None,
    libraries: Sequence[tuple[str, str]] = XCB_LIBRARIES,
) -> str | None:
    """A message naming the packages to install, or None when the desktop can start."""
    env = os.environ if environ is None else environ
    if not uses_xcb(env):
        return None
    missing = missing_libraries(libraries)
    if not missing:
        return None
    packages = " ".join(missing)
    return (
        "Integration Console cannot open a window: Qt's X11 (xcb) platform plugin needs "
        f"system libraries that are missing here: {packages}.\n"
        f"On Debian or Ubuntu: sudo apt-get install {packages}\n"
        "(For screenshots without a display, set QT_QPA_PLATFORM=offscreen.)"
    )
