"""Connection profiles: name, base URL, auth mode. Secrets live elsewhere (secrets.py)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from console.common.redaction import redact_secrets
from console.config.files import write_json_atomically

AUTH_MODES = ("header", "query")
# What a profile points at. Production opens read-only (console.ui.protection).
ENVIRONMENTS = ("sandbox", "development", "staging", "production")
# A settings file written before profiles had an environment: a remote profile may well be
# production, so it is treated as one (read-only until unlocked) until the user says not.
LEGACY_REMOTE_ENVIRONMENT = "production"


class ProfileError(ValueError):
    """A profile that cannot be saved as given; the message says what to fix."""


@dataclass
class ConnectionProfile:
    """How to reach one deployment of the platform API."""

    name: str
    base_url: str
    auth_mode: str = "header"
    # The embedded sandbox: its data dir, and the console starts and stops it.
    sandbox_data_dir: str | None = None
    # One of ENVIRONMENTS; the embedded sandbox is always "sandbox".
    environment: str = "development"

    def __post_init__(self) -> None:
        if self.sandbox_data_dir is not None:
            self.environment = "sandbox"

    @property
    def is_sandbox(self) -> bool:
        """Whether this profile runs the embedded sandbox server."""
        return self.sandbox_data_dir is not None

    def validate(self) -> None:
        """Raise ProfileError naming the first field to fix."""
        if not self.name.strip():
            raise ProfileError("Name: give the profile a name.")
        if self.auth_mode not in AUTH_MODES:
            raise ProfileError("Auth mode: choose header or query.")
        if self.environment not in ENVIRONMENTS:
            raise ProfileError("Environment: choose sandbox, development, staging or production.")
        if self.is_sandbox:
            return
        parts = urlsplit(self.base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ProfileError(
                "Base URL: enter a full URL such as https://api.example.com "
                f"(got {self.base_url!r})."
            )
        query_names = {part.split("=", 1)[0].lower() for part in parts.query.split("&") if part}
        if (
            redact_secrets(self.base_url) != self.base_url
            or query_names & {"apikey", "access_token"}
            or parts.username
            or parts.password
        ):
            raise ProfileError(
                "Base URL: remove the key or credentials from the URL; enter the key in the "
                "key field, where it goes to the keychain."
            )
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ProfileError(
                "Base URL: use https:// for a remote server; keys must not cross the "
                "network in clear text."
            )


@dataclass
class Settings:
    """Everything the settings file holds."""

    profiles: list[ConnectionProfile] = field(default_factory=list)
    active_profile: str | None = None

    def profile(self, name: str) -> ConnectionProfile | None:
        """The profile called `name`, if any."""
        return next((p for p in self.profiles if p.name == name), None)

    def upsert(self, profile: ConnectionProfile, *, old_name: str | None = None) -> None:
        """Add or replace a profile (renaming when `old_name` differs)."""
        profile.validate()
        clash = self.profile(profile.name)
        if clash is not None and profile.name != (old_name or profile.name):
            raise ProfileError(f"Name: a profile called {profile.name!r} already exists.")
        target = old_name or profile.name
        self.profiles = [p for p in self.profiles if p.name != target]
        self.profiles.append(profile)
        self.profiles.sort(key=lambda p: (not p.is_sandbox, p.name.lower()))
        if self.active_profile == old_name:
            self.active_profile = profile.name

    def remove(self, name: str) -> None:
        """Forget a profile."""
        self.profiles = [p for p in self.profiles if p.name != name]
        if self.active_profile == name:
            self.active_profile = None


class SettingsStore:
    """Reads and atomically writes the settings file (JSON, no secrets)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Settings:
        """The saved settings, or empty ones when the file is missing or unreadable."""
        try:
            raw: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return Settings()
        profiles = []
        for item in raw.get("profiles", []):
            try:
                profiles.append(
                    ConnectionProfile(
                        name=str(item["name"]),
                        base_url=str(item.get("base_url", "")),
                        auth_mode=str(item.get("auth_mode", "header")),
                        sandbox_data_dir=item.get("sandbox_data_dir"),
                        environment=_environment_of(item),
                    )
                )
            except (KeyError, TypeError):
                continue
        return Settings(profiles, raw.get("active_profile"))

    def save(self, settings: Settings) -> None:
        """Write atomically so a crash never leaves half a file."""
        payload = {
            "profiles": [asdict(p) for p in settings.profiles],
            "active_profile": settings.active_profile,
        }
        write_json_atomically(self.path, payload, indent=2)


def _environment_of(item: dict[str, Any]) -> str:
    """A saved profile's environment; unknown or missing ones are read fail-safe."""
    if item.get("sandbox_data_dir") is not None:
        return "sandbox"
    value = item.get("environment")
    return value if value in ENVIRONMENTS else LEGACY_REMOTE_ENVIRONMENT
