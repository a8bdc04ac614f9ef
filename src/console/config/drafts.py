"""Unsaved definition edits, one draft per pipeline, kept on disk until applied or discarded.

A crash, a closed window or a switch to another pipeline never loses what was typed.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from console.config.files import write_json_atomically

NEW_PIPELINE = "new"


@dataclass(frozen=True)
class Draft:
    """The text being edited, what it was based on, and when it was last saved."""

    text: str
    format: str
    base_revision: int | None
    saved_at: float
    # The text of `base_revision`, for a three-way merge when Apply meets a newer revision
    # (None in drafts kept before it was remembered: the merge then asks about everything).
    base_text: str | None = None


class DraftStore:
    """Drafts under `root/<profile digest>/<pipeline id or "new">.json`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, profile: str, pipeline: int | str) -> Path:
        # Profile names are user text: hash them into a safe directory name.
        folder = hashlib.sha256(profile.encode("utf-8")).hexdigest()[:16]
        return self.root / folder / f"{pipeline}.json"

    def load(self, profile: str, pipeline: int | str) -> Draft | None:
        """The draft of `pipeline`, if one was kept."""
        try:
            raw = json.loads(self._path(profile, pipeline).read_text(encoding="utf-8"))
            return Draft(
                text=str(raw["text"]),
                format=str(raw.get("format") or "yaml"),
                base_revision=raw.get("base_revision"),
                saved_at=float(raw.get("saved_at") or 0),
                base_text=raw["base_text"] if isinstance(raw.get("base_text"), str) else None,
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(
        self,
        profile: str,
        pipeline: int | str,
        text: str,
        fmt: str,
        base_revision: int | None,
        base_text: str | None = None,
    ) -> Draft:
        """Write atomically, so a crash mid-write keeps the previous draft whole."""
        draft = Draft(text, fmt, base_revision, time.time(), base_text)
        payload = {
            "text": draft.text,
            "format": draft.format,
            "base_revision": draft.base_revision,
            "saved_at": draft.saved_at,
            "base_text": draft.base_text,
        }
        write_json_atomically(self._path(profile, pipeline), payload)
        return draft

    def discard(self, profile: str, pipeline: int | str) -> None:
        """Forget the draft (applied, or thrown away on purpose)."""
        self._path(profile, pipeline).unlink(missing_ok=True)
