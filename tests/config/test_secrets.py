"""Keys in the keychain, in memory when there is none, never in plain files."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from console.config.secrets import (
    BACKEND_ENV,
    SecretStore,
    platform_backend_name,
    profile_account,
    read_sandbox_key_file,
    write_sandbox_key_file,
)


@pytest.fixture
def no_keychain(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a bare Linux box has: keyring's fail backend."""
    monkeypatch.setenv(BACKEND_ENV, "keyring.backends.fail.Keyring")


@pytest.fixture
def keyring_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No keyring configured: no environment variable, an empty config dir."""
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    return tmp_path


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


def test_a_plain_text_keyring_is_never_chosen_on_its_own(
    file_keyring: Any, keyring_config_home: Path
) -> None:
    # file_keyring made keyrings.alt keyring's process-wide backend, as discovery would
    # when it is installed: the store picks the platform's keychain instead.
    store = SecretStore()
    store.set(profile_account("Prod"), "fdk_" + "d" * 40)
    assert store._backend is not file_keyring
    assert not Path(file_keyring.file_path).exists()


def test_an_explicitly_configured_backend_is_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BACKEND_ENV, "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    store = SecretStore()
    assert store.persistent
    assert store.set(profile_account("Prod"), "fdk_" + "e" * 40) is True
    assert (tmp_path / "xdg-data" / "python_keyring").is_dir()
    assert SecretStore().get(profile_account("Prod")) == "fdk_" + "e" * 40


def test_a_misconfigured_backend_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BACKEND_ENV, "no.such.Keyring")
    store = SecretStore()
    assert not store.persistent
    assert "configured keyring backend" in (store.unavailable_reason or "")


def test_each_platform_gets_its_own_keychain() -> None:
    assert platform_backend_name("linux") == "keyring.backends.SecretService.Keyring"
    assert platform_backend_name("freebsd14") == "keyring.backends.SecretService.Keyring"
    assert platform_backend_name("darwin") == "keyring.backends.macOS.Keyring"
    assert platform_backend_name("win32") == "keyring.backends.Windows.WinVaultKeyring"


def test_the_backend_is_chosen_without_discovery_or_child_processes(tmp_path: Path) -> None:
    """A fresh process with no keyring configured: one backend loaded, nothing spawned.

    Discovery would rank every installed backend; on Linux the macOS one alone runs
    ldconfig, gcc and ld. An audit hook sees every process the lookup starts.
    """
    code = textwrap.dedent(
        """
        import json, sys
        spawned = []
        def audit(event, args):
            if event in ("subprocess.Popen", "os.posix_spawn", "os.exec", "os.fork",
                         "os.system", "ctypes.dlopen"):
                spawned.append([event, repr(args)[:200]])
        sys.addaudithook(audit)
        from console.config.secrets import SecretStore
        store = SecretStore()
        store.get("profile:Prod")
        import keyring.backend, keyring.core
        print(json.dumps({
            "spawned": [s for s in spawned if s[0] != "ctypes.dlopen"],
            "discovered": hasattr(keyring.backend.get_all_keyring, "saved_result"),
            "global_backend": repr(keyring.core._keyring_backend),
            "backend": type(store._backend).__module__ if store.persistent else None,
            "loaded": sorted(m for m in sys.modules if m.startswith(("keyring.backends.",
                                                                   "keyrings."))),
        }))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != BACKEND_ENV}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg-config")  # no keyringrc.cfg
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout)
    assert seen["spawned"] == []
    assert seen["discovered"] is False
    assert seen["global_backend"] == "None"
    assert seen["backend"] in (None, platform_backend_name().rpartition(".")[0])
    expected = platform_backend_name().rpartition(".")[0]
    assert [m for m in seen["loaded"] if m != "keyring.backends.fail"] == [expected], seen


def test_sandbox_key_file_is_owner_only(tmp_path: Path) -> None:
    path = write_sandbox_key_file(tmp_path / "data", "fdk_" + "c" * 40)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_sandbox_key_file(tmp_path / "data") == "fdk_" + "c" * 40
