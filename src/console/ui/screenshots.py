"""`--screenshots DIR`: one PNG of each tab, as a user would see it."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from console.ui.main_window import MainWindow


async def save_tab_screenshots(
    window: MainWindow, directory: Path, load_wait: float = 30.0
) -> list[Path]:
    """Wait for the keys to load, then grab every tab at the window's size."""
    directory.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, microseconds)
    loaded: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def done(*_args: object) -> None:
        if not loaded.done():
            loaded.set_result(None)

    window.keys_tab.keys_loaded.connect(done)
    window.runner.failed.connect(done)  # an error banner is worth a screenshot too
    try:
        await asyncio.wait_for(loaded, load_wait)
    finally:
        window.keys_tab.keys_loaded.disconnect(done)
        window.runner.failed.disconnect(done)
    saved = []
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        # Let layout and paint events run through the loop; processEvents() here would
        # re-enter other tasks from inside this one.
        await asyncio.sleep(0.05)
        slug = re.sub(r"[^a-z0-9]+", "-", window.tabs.tabText(index).lower()).strip("-")
        path = directory / f"{index + 1:02d}-{slug}.png"
        if not window.grab().save(str(path), "PNG"):
            raise OSError(f"could not write {path}")
        saved.append(path)
    window.tabs.setCurrentIndex(0)
    return saved
