"""Where the console keeps its settings, logs and the default sandbox data."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

APP_DIR_NAME = "integration-console"
HOME_ENV = "INTEGRATION_CONSOLE_HOME"


@dataclass(frozen=True)
class AppPaths:
    """The console's own directories (created on demand)."""

    config_dir: Path
    state_dir: Path

    @property
    def settings_file(self) -> Path:
        """Connection profiles and preferences; never holds a secret."""
        return self.config_dir / "settings.json"

    @property
    def log_file(self) -> Path:
        """The app's log, with every key secret masked."""
        return self.state_dir / "logs" / "console.log"

    @property
    def drafts_dir(self) -> Path:
        """Unsaved pipeline definition edits, kept until applied or discarded."""
        return self.state_dir / "drafts"

    @property
    def default_sandbox_dir(self) -> Path:
        """Data dir of the embedded sandbox when `--data` is not given."""
        return self.state_dir / "sandbox"

    @classmethod
    def from_environment(cls) -> AppPaths:
        """`$INTEGRATION_CONSOLE_HOME` when set (tests, portable installs), else OS defaults."""
        override = os.environ.get(HOME_ENV)
        if override:
            root = Path(override)
            return cls(root / "config", root / "state")
        if sys.platform == "win32":
            base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
            return cls(base / APP_DIR_NAME, base / APP_DIR_NAME)
        if sys.platform == "darwin":
            base = Path.home() / "Library" / "Application Support" / APP_DIR_NAME
            return cls(base, base)
        config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
        return cls(config / APP_DIR_NAME, state / APP_DIR_NAME)
