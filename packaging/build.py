"""Build Integration Console with PyInstaller: `python packaging/build.py [--onefile]`.

Leaves a onedir app in dist/integration-console/ (or dist/integration-console with
--onefile) and prints its size. Needs the `package` extra: pip install -e '.[package]'.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "console.spec"
RESOURCES = ROOT / "resources"
APP_NAME = "integration-console"


def version() -> str:
    """The package's version, read from its source (no import, no Qt)."""
    text = (ROOT / "src" / "console" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if match is None:
        raise SystemExit("src/console/__init__.py has no __version__")
    return match.group(1)


def tree_size(path: Path) -> int:
    """Bytes of the files under `path` (symlinks counted once, as links)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def build(*, onefile: bool = False, dist: Path | None = None, work: Path | None = None) -> Path:
    """Run PyInstaller on the spec; return the built app (folder or file)."""
    dist = dist or ROOT / "dist"
    work = work or ROOT / "build"
    env = dict(os.environ, CONSOLE_ONEFILE="1" if onefile else "0")
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        str(SPEC),
        "--noconfirm",
        "--clean",
        "--log-level",
        "WARN",
        "--distpath",
        str(dist),
        "--workpath",
        str(work),
    ]
    subprocess.run(command, check=True, env=env, cwd=ROOT)
    app = dist / APP_NAME
    if app.is_dir():
        remove_dangling_links(app)
        add_desktop_files(app)
    return app


def add_desktop_files(app: Path) -> None:
    """The icon and a .desktop entry (with the version) next to the executable.

    Install them with: cp dist/integration-console/share/... (see README, "Install").
    """
    share = app / "share"
    icons = share / "icons" / "hicolor" / "256x256" / "apps"
    icons.mkdir(parents=True, exist_ok=True)
    shutil.copy2(RESOURCES / "integration-console.png", icons / "integration-console.png")
    applications = share / "applications"
    applications.mkdir(parents=True, exist_ok=True)
    entry = (RESOURCES / "integration-console.desktop").read_text(encoding="utf-8")
    entry = entry.replace("[Desktop Entry]\n", f"[Desktop Entry]\nX-AppVersion={version()}\n", 1)
    (applications / "integration-console.desktop").write_text(entry, encoding="utf-8")


def remove_dangling_links(app: Path) -> list[Path]:
    """Drop the top-level symlinks PyInstaller made to libraries the spec pruned."""
    dangling = [p for p in app.rglob("*") if p.is_symlink() and not p.exists()]
    for link in dangling:
        link.unlink()
    return dangling


def main(argv: list[str] | None = None) -> int:
    """Build, then say where the app is and how big it is."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onefile", action="store_true", help="one self-extracting file")
    parser.add_argument("--dist", type=Path, help="output folder (default: dist/)")
    parser.add_argument("--work", type=Path, help="PyInstaller's work folder (default: build/)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    app = build(onefile=args.onefile, dist=args.dist, work=args.work)
    size = tree_size(app)
    print(
        f"{app}: Integration Console {version()}, {size / 2**20:.1f} MiB, "
        f"built in {time.monotonic() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
