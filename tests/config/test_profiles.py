"""Connection profiles: validation that says what to fix, and no secret in the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.config.profiles import ConnectionProfile, ProfileError, Settings, SettingsStore


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("api.example.com", "Base URL: enter a full URL"),
        ("http://api.example.com", "use https://"),
        ("https://api.example.com/?apiKey=fdk_x", "remove the key or credentials"),
        ("https://api.example.com/?access_token=abc", "remove the key or credentials"),
        ("https://api.example.com/x/" + "fdk_" + "k" * 40, "remove the key or credentials"),
        ("https://user:pw@api.example.com", "remove the key or credentials"),
    ],
)
def test_bad_base_urls_say_what_to_fix(url: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message.replace("?", r"\?")):
        ConnectionProfile("Prod", url).validate()


def test_loopback_http_is_allowed() -> None:
    ConnectionProfile("Local", "http://127.0.0.1:8080").validate()


def test_settings_round_trip_and_rename(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "settings.json")
    settings = Settings()
    settings.upsert(ConnectionProfile("Prod", "https://api.example.com"))
    settings.active_profile = "Prod"
    settings.upsert(ConnectionProfile("Production", "https://api.example.com"), old_name="Prod")
    store.save(settings)
    loaded = store.load()
    assert [p.name for p in loaded.profiles] == ["Production"]
    assert loaded.active_profile == "Production"
    with pytest.raises(ProfileError, match="already exists"):
        loaded.upsert(ConnectionProfile("Production", "https://other.example.com"), old_name="X")


def test_a_corrupt_settings_file_loads_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    assert SettingsStore(path).load().profiles == []
