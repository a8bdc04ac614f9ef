"""A desktop missing Qt's xcb libraries gets told what to install, not a Qt abort."""

from __future__ import annotations

from console.app.platform_check import XCB_LIBRARIES, missing_libraries, uses_xcb, xcb_problem


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
    message = xcb_problem({"DISPLAY": ":0"}, fake) if uses_xcb({"DISPLAY": ":0"}) else None
    if message is not None:  # only on Linux
        assert "sudo apt-get install" in message
        assert "libdefinitely-not-here9" in message
    assert xcb_problem({"QT_QPA_PLATFORM": "offscreen"}, fake) is None
