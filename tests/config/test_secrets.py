"""Keys in the keychain, in memory when there is none, never in plain files."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backends.fail
import pytest

from console.config.secrets import (
    SecretStore,
    profile_account,
    read_sandbox_key_file,
    write_sandbox_key_file,
)


@pytest.fixture
def no_keychain() -> Iterator[None]:
    """What a bare Linux box has: keyring's fail backend."""
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    yield
    keyring.set_keyring(previous)


def test_keychain_backend_stores_and_forgets(file_keyring: Any) -> None:
    store = SecretStore(backend=file_keyring)
    assert store.persistent
    assert store.unavailable_reason is None
    assert store.set(profile_account("Prod"), "fdk_" + "a" * 40) is True
    assert SecretStore(backend=file_keyring).get(profile_account("Prod")) == "fdk_" + "a" * 40
    store.delete(profile_account("Prod"))
    assert store.get(profile_account("Prod")) is None


def test_without_keychain_keys_live_in_memory_and_say_why(no_keychain: None) -> None:
    store = SecretStore()
    assert not store.persistent
    assert "no usable keychain" in (store.unavailable_reason or "")
    assert store.set(profile_account("Prod"), "fdk_" + "b" * 40) is False
    assert store.get(profile_account("Prod")) == "fdk_" + "b" * 40
    assert SecretStore().get(profile_account("Prod")) is None  # gone with the process


def test_a_plain_text_keyring_is_never_chosen_by_discovery(file_keyring: Any) -> None:
    # file_keyring made keyrings.alt the process-wide backend: discovery must refuse it.
    store = SecretStore()
    assert not store.persistent
    assert "plain text" in (store.unavailable_reason or "")


def test_sandbox_key_file_is_owner_only(tmp_path: Path) -> None:
    path = write_sandbox_key_file(tmp_path / "data", "fdk_" + "c" * 40)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_sandbox_key_file(tmp_path / "data") == "fdk_" + "c" * 40
