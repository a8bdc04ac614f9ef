"""Fixtures of the sandbox server tests: HTTP clients of the shared server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest


@pytest.fixture
def client(sandbox_url: str) -> Iterator[httpx.Client]:
    """An unauthenticated client of the shared server."""
    with httpx.Client(base_url=sandbox_url, timeout=10) as http:
        yield http


@pytest.fixture
def api(sandbox_url: str, admin_key: str) -> Iterator[httpx.Client]:
    """A client of the shared server authenticated with a fresh account's admin key."""
    headers = {"Authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=sandbox_url, headers=headers, timeout=10) as http:
        yield http


@pytest.fixture
def eventually() -> Callable[[Callable[[], bool], float], None]:
    """Poll a condition until it holds or a deadline passes (no fixed sleeps)."""

    def wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"condition not met within {timeout} s")
            time.sleep(0.05)

    return wait
