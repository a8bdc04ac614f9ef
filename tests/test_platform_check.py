"""A desktop missing Qt's xcb libraries gets told what to install, not a Qt abort."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from console.app.platform_check import (
    XCB_LIBRARIES,
    libraries_for,
    library_problem,
    missing_libraries,
    uses_xcb,
)


def test_xcb_is_detected_from_the_environment() -> None:
    assert uses_xcb({"DISPLAY": ":0"}, "linux")
    assert not uses_xcb({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert not uses_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert uses_xcb({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert not uses_xcb({"DISPLAY": ":0"}, "win32")


def test_missing_libraries_are_named_by_package() -> None:
    fake = (("libdefinitely-not-here.so.9", "libdefinitely-not-here9"),)
    assert missing_libraries(fake) == ["libdefinitely-not-here9"]
    assert {package for _, package in XCB_LIBRARIES} == {
        "libxcb-cursor0",
        "libxcb-icccm4",
        "libxcb-keysyms1",
    }


def test_the_message_says_what_to_install() -> None:
    fake = (*XCB_LIBRARIES, ("libdefinitely-not-here.so.9", "libdefinitely-not-here9"))
    message = library_problem({"DISPLAY": ":0"}, fake) if uses_xcb({"DISPLAY": ":0"}) else None
    if message is not None:  # only on Linux
        assert "sudo apt-get install" in message
        assert "libdefinitely-not-here9" in message
    # Offscreen never asks for the xcb plugin's libraries.
    assert not set(fake) & set(libraries_for({"QT_QPA_PLATFORM": "offscreen"}, "linux"))


def test_no_display_is_one_line_unless_offscreen() -> None:
    from console.app.platform_check import display_problem

    message = display_problem({}, "linux")
    assert message is not None
    assert "\n" not in message
    assert "neither DISPLAY nor WAYLAND_DISPLAY" in message
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display_problem({}, "win32") is None


def test_each_platform_checks_its_own_system_libraries() -> None:
    from console.app.platform_check import libraries_for

    x11 = {package for _, package in libraries_for({"DISPLAY": ":0"}, "linux")}
    wayland = {package for _, package in libraries_for({"WAYLAND_DISPLAY": "w"}, "linux")}
    offscreen = {package for _, package in libraries_for({"QT_QPA_PLATFORM": "offscreen"}, "linux")}
    # libQt6Gui links OpenGL and EGL even offscreen; the build takes D-Bus and GLib from
    # the system (packaging/console.spec SYSTEM_LIBRARIES).
    assert {"libgl1", "libegl1", "libdbus-1-3", "libglib2.0-0"} <= offscreen
    assert {"libxcb1", "libxcb-cursor0"} <= x11 - offscreen
    assert {"libwayland-client0", "libwayland-egl1"} <= wayland - offscreen
    assert not (wayland - offscreen) & x11


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to build test libraries")
def test_a_present_library_missing_a_dependency_names_the_dependency(tmp_path: Path) -> None:
    """What a frozen build bundled loads from the bundle; if it fails, it is for what the
    system lacks, and the message names that, not the bundled library."""
    dependency = tmp_path / "libconsole-test-dep.so.1"
    bundled = tmp_path / "libconsole-test-bundled.so.1"
    source = tmp_path / "empty.c"
    source.write_text("int console_test_symbol(void) { return 1; }\n")
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-Wl,-soname,libconsole-test-dep.so.1",
            "-o",
            str(dependency),
            str(source),
        ],
        check=True,
    )
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-Wl,--no-as-needed",
            "-o",
            str(bundled),
            str(source),
            str(dependency),
        ],
        check=True,
    )
    dependency.unlink()  # the "system" lacks it
    missing = missing_libraries(((str(bundled), "bundled-package"),))
    assert missing == ["the package that provides libconsole-test-dep.so.1"]
