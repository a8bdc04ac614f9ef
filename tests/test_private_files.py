"""Data files are private: directories 0700, the database (WAL and SHM too) and logs 0600."""

from __future__ import annotations

import logging
import os
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from console.app.logging_setup import configure_logging
from console.config.drafts import DraftStore
from console.config.files import write_json_atomically
from console.config.secrets import write_sandbox_key_file
from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import DATABASE_NAME, mint_key

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")


@contextmanager
def permissive_umask() -> Iterator[None]:
    """Umask 0, so anything left to the defaults would come out world-readable."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes_under(root: Path) -> dict[str, int]:
    """The mode of `root` and of everything below it, by relative path."""
    found = {".": mode(root)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = mode(path)
    return found


def assert_private(root: Path) -> None:
    expected = {name: 0o700 if (root / name).is_dir() else 0o600 for name in modes_under(root)}
    assert {name: oct(m) for name, m in modes_under(root).items()} == {
        name: oct(m) for name, m in expected.items()
    }


def test_a_running_servers_data_dir_and_database_files_are_private(
    make_sandbox: Callable[..., SandboxProcess], tmp_path: Path
) -> None:
    data_dir = tmp_path / "fresh" / "data"
    with permissive_umask():
        server = make_sandbox(data_dir=data_dir, demo=True, rate_limit="1000/60")
    key = mint_key(data_dir, account="perm", kind="admin")
    with httpx.Client(
        base_url=str(server.base_url), headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as api:
        for n in range(3):
            assert api.post(
                "/api/public/v1/keys", json={"name": f"k{n}", "kind": "admin"}
            ).is_success
    names = set(modes_under(data_dir))
    assert {DATABASE_NAME, f"{DATABASE_NAME}-wal", f"{DATABASE_NAME}-shm"} <= names
    assert_private(data_dir)
    assert mode(tmp_path / "fresh") == 0o700  # created for the data dir, so the console's


def test_an_old_world_readable_data_dir_is_tightened(tmp_path: Path) -> None:
    data_dir = tmp_path / "old"
    with permissive_umask():
        mint_key(data_dir, account="first", kind="admin")
    for path in (data_dir, *data_dir.iterdir()):
        os.chmod(path, 0o777 if path.is_dir() else 0o644)
    with permissive_umask():
        mint_key(data_dir, account="second", kind="admin")
    assert_private(data_dir)


def test_the_console_log_is_private_and_stays_so_across_rotation(tmp_path: Path) -> None:
    log_file = tmp_path / "state" / "logs" / "console.log"
    with permissive_umask():
        handler = configure_logging(log_file)
        try:
            logging.getLogger("console.test").warning("written under umask 0")
            assert isinstance(handler, logging.handlers.RotatingFileHandler)
            handler.doRollover()
            logging.getLogger("console.test").warning("after rotation")
            handler.flush()
        finally:
            logging.getLogger().removeHandler(handler)
            handler.close()
    assert (log_file.parent / "console.log.1").exists()
    assert_private(tmp_path / "state")


def test_settings_drafts_and_the_sandbox_key_file_are_private(tmp_path: Path) -> None:
    with permissive_umask():
        write_json_atomically(tmp_path / "config" / "settings.json", {"profiles": []})
        DraftStore(tmp_path / "state" / "drafts").save("Prod", 7, "name: x\n", "yaml", 3)
        write_sandbox_key_file(tmp_path / "state" / "sandbox", "fdk_" + "k" * 40)
    assert_private(tmp_path / "config")
    assert_private(tmp_path / "state")
