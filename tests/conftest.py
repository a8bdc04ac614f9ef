"""Shared fixtures: a real sandbox server, per-test accounts, a file keyring, Qt offscreen."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

# Before anything imports Qt: offscreen rendering and the binding qasync must pick.
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("QT_API", "pyside6")

import pytest

from console.sandbox.process import SandboxProcess

T = TypeVar("T")

# Slow, silent and untrusted-TLS loopback servers (fixtures slow_server, untrusted_tls_server).
pytest_plugins = ["tests.slow_server"]

# The shared server is used by every test from one IP: lift the per-IP limit so the
# suite itself never trips it. Rate-limit tests start their own server.
SUITE_RATE_LIMIT = "1000000/300"


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """One sandbox server (with demo data) for the whole session, on an ephemeral port."""
    data_dir = tmp_path_factory.mktemp("sandbox-data")
    server = SandboxProcess(data_dir, demo=True, rate_limit=SUITE_RATE_LIMIT)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sandbox_url(sandbox: SandboxProcess) -> str:
    """Base URL of the shared sandbox server."""
    assert sandbox.base_url is not None
    return sandbox.base_url


@pytest.fixture
def account() -> str:
    """A fresh account name: tests isolate themselves by account, not by server."""
    return f"acct-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def mint_key(sandbox: SandboxProcess) -> Callable[..., str]:
    """Mint a key on the shared server's data dir (creating account and feed as needed)."""
    from console.sandbox.storage.sqlite import mint_key as store_mint_key

    def mint(account: str, kind: str = "admin", feed: str | None = None) -> str:
        return store_mint_key(sandbox.data_dir, account=account, kind=kind, feed=feed)

    return mint


@pytest.fixture
def admin_key(mint_key: Callable[..., str], account: str) -> str:
    """An admin key of a fresh account on the shared server."""
    return mint_key(account, "admin")


@pytest.fixture
def make_sandbox(tmp_path: Path) -> Iterator[Callable[..., SandboxProcess]]:
    """Start extra sandbox servers (own data dir, own settings); all stopped afterwards."""
    started: list[SandboxProcess] = []

    def make(**kwargs: Any) -> SandboxProcess:
        data_dir = kwargs.pop("data_dir", None) or tmp_path / f"sandbox-{len(started)}"
        server = SandboxProcess(data_dir, **kwargs)
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a plain asyncio loop in a worker thread: the API layer needs no Qt.

    A thread keeps it apart from the session's qasync loop, which GUI tests leave
    marked as running on the main thread.
    """
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="api-test") as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture
def file_keyring(tmp_path: Path) -> Iterator[Any]:
    """A real file-based keyring in a temp dir, selected explicitly (never by discovery)."""
    import keyring
    from keyrings.alt.file import PlaintextKeyring

    previous = keyring.get_keyring()
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring" / "keyring_pass.cfg")  # type: ignore[misc]
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)
