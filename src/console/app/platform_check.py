"""Start-up checks that turn a Qt abort into a message saying what to do.

Two things make Qt abort (exit 134) with a misleading text, frozen or not:
- no display at all: no DISPLAY, no WAYLAND_DISPLAY, and no QT_QPA_PLATFORM such as
  offscreen. Qt then says "xcb-cursor0 is needed", which is not the problem;
- a system library Qt's platform plugin links is missing.

The library check loads each library as the app itself will. When frozen, PyInstaller's
bootloader puts the bundle first on LD_LIBRARY_PATH, so a library bundled from the build
host loads from the bundle and is really there; what such a copy needs from the system is
checked too, because loading it fails naming the missing dependency, and the message names
that dependency's package, not the bundled library's. Libraries the build takes from the
system (packaging/console.spec's SYSTEM_LIBRARIES) are checked like the rest.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
from collections.abc import Mapping, Sequence

# Qt 6.5+'s xcb plugin links these; without any of them Qt aborts the process with a
# generic "could not load the Qt platform plugin" (measured on Debian 12). A frozen build
# bundles them when the build host has them.
XCB_LIBRARIES: tuple[tuple[str, str], ...] = (
    ("libxcb-cursor.so.0", "libxcb-cursor0"),
    ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
)
# What every platform needs from the system: libQt6Gui links OpenGL and EGL even
# offscreen, and the frozen build takes D-Bus, GLib, Xlib and the font stack from the
# system (packaging/console.spec).
COMMON_LIBRARIES: tuple[tuple[str, str], ...] = (
    ("libGL.so.1", "libgl1"),
    ("libEGL.so.1", "libegl1"),
    ("libfontconfig.so.1", "libfontconfig1"),
    ("libfreetype.so.6", "libfreetype6"),
    ("libglib-2.0.so.0", "libglib2.0-0"),
    ("libdbus-1.so.3", "libdbus-1-3"),
)
X11_LIBRARIES: tuple[tuple[str, str], ...] = (
    ("libxcb.so.1", "libxcb1"),
    ("libX11.so.6", "libx11-6"),
    ("libX11-xcb.so.1", "libx11-xcb1"),
    *XCB_LIBRARIES,
)
WAYLAND_LIBRARIES: tuple[tuple[str, str], ...] = (
    ("libwayland-client.so.0", "libwayland-client0"),
    ("libwayland-cursor.so.0", "libwayland-cursor0"),
    ("libwayland-egl.so.1", "libwayland-egl1"),
)
# Sonames a library may fail on, for naming the package of a missing dependency.
KNOWN_PACKAGES = dict(COMMON_LIBRARIES + X11_LIBRARIES + WAYLAND_LIBRARIES)
# Platforms that need no display server.
HEADLESS_PLATFORMS = frozenset({"offscreen", "minimal", "vnc", "linuxfb", "eglfs"})
_MISSING = re.compile(r"(lib[\w.+-]+\.so[\w.]*): cannot open shared object file")


def platform_name(environ: Mapping[str, str], platform: str = sys.platform) -> str | None:
    """The Qt platform plugin that will be used: xcb, wayland, a headless one, or None."""
    if not platform.startswith("linux"):
        return None
    chosen = environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(";")[0].split(":")[0]
    if environ.get("WAYLAND_DISPLAY"):
        return "wayland"
    if environ.get("DISPLAY"):
        return "xcb"
    return None


def uses_xcb(environ: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether Qt will pick its xcb (X11) platform plugin in this environment."""
    return platform_name(environ, platform) == "xcb"


def display_problem(
    environ: Mapping[str, str] | None = None, platform: str = sys.platform
) -> str | None:
    """One line saying there is no display to open a window on, or None."""
    env = os.environ if environ is None else environ
    if not platform.startswith("linux") or platform_name(env, platform) is not None:
        return None
    return (
        "Integration Console needs a desktop session: neither DISPLAY nor WAYLAND_DISPLAY "
        "is set (to run without one, set QT_QPA_PLATFORM=offscreen)."
    )


def missing_libraries(libraries: Sequence[tuple[str, str]] = XCB_LIBRARIES) -> list[str]:
    """The Debian package names of the libraries that cannot be loaded.

    A library that is there but fails on a missing dependency names the dependency's
    package (a bundled copy is not mistaken for what the system lacks).
    """
    missing: list[str] = []
    for soname, package in libraries:
        try:
            ctypes.CDLL(soname)
        except OSError as error:
            name = package
            found = _MISSING.search(str(error))
            if found is not None and found.group(1) != soname:
                dependency = found.group(1)
                name = KNOWN_PACKAGES.get(dependency, f"the package that provides {dependency}")
            if name not in missing:
                missing.append(name)
    return missing


def libraries_for(
    environ: Mapping[str, str], platform: str = sys.platform
) -> list[tuple[str, str]]:
    """The system libraries the chosen platform plugin needs (none off Linux)."""
    name = platform_name(environ, platform)
    if name is None:
        return []
    needed = list(COMMON_LIBRARIES)
    if name == "xcb":
        needed += X11_LIBRARIES
    elif name.startswith("wayland"):
        needed += WAYLAND_LIBRARIES
    return needed


def library_problem(
    environ: Mapping[str, str] | None = None,
    libraries: Sequence[tuple[str, str]] | None = None,
) -> str | None:
    """A message naming the packages to install, or None when Qt can start."""
    env = os.environ if environ is None else environ
    wanted = libraries_for(env) if libraries is None else list(libraries)
    missing = missing_libraries(wanted)
    if not missing:
        return None
    packages = " ".join(missing)
    return (
        f"Integration Console cannot start Qt's {platform_name(env) or 'platform'} plugin: "
        f"system libraries are missing: {packages}.\n"
        f"On Debian or Ubuntu: sudo apt-get install {packages}\n"
        "(For screenshots without a display, set QT_QPA_PLATFORM=offscreen.)"
    )


def startup_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """What stops the window from opening here, or None: the display, then libraries."""
    return display_problem(environ) or library_problem(environ)
