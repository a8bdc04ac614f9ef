"""Where an import stopped, kept per profile so it can be resumed (no Qt here).

An import is identified by the profile, the feed and the file: its path, size,
modification time and a hash of its first MiB. A changed file (edited, or another file
at the same path) matches nothing, so it is never resumed by mistake. The state is one
small private JSON file per profile (0600 in a 0700 directory), written atomically.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from console.config.files import write_json_atomically
from console.config.paths import AppPaths

HEAD_BYTES = 1 << 20  # the part of the file that is hashed
MAX_ENTRIES = 50  # per profile; the oldest are dropped


@dataclass(frozen=True)
class FileFingerprint:
    """What identifies one version of one file."""

    path: str
    size: int
    mtime_ns: int
    head_sha256: str


def fingerprint(path: Path) -> FileFingerprint:
    """The fingerprint of `path` as it is now (reads at most its first MiB)."""
    resolved = path.resolve()
    stat = resolved.stat()
    digest = hashlib.sha256()
    with resolved.open("rb") as handle:
        digest.update(handle.read(HEAD_BYTES))
    return FileFingerprint(str(resolved), stat.st_size, stat.st_mtime_ns, digest.hexdigest())


@dataclass(frozen=True)
class ResumePoint:
    """An import of the file that did not finish: where it stopped and how it was run."""

    import_id: str
    last_row: int  # the last data row the server finished (0: none)
    total: int | None
    format: str
    id_field: str
    status: str
    saved_at: float

    @property
    def start_row(self) -> int:
        """The data row a resumed import starts at."""
        return self.last_row + 1


def default_root() -> Path:
    """The directory of the resume files (under the console's state directory)."""
    return AppPaths.from_environment().state_dir / "imports"


class ImportResumeStore:
    """Resume points under `root/<profile digest>.json`."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_root()

    def _path(self, profile: str) -> Path:
        # Profile names are user text: hash them into a safe file name.
        return self.root / f"{hashlib.sha256(profile.encode('utf-8')).hexdigest()[:16]}.json"

    @staticmethod
    def _key(feed_id: str, file: FileFingerprint) -> str:
        return json.dumps([feed_id, file.path])

    def _entries(self, profile: str) -> dict[str, Any]:
        try:
            raw = json.loads(self._path(profile).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return raw if isinstance(raw, dict) else {}

    def load(self, profile: str, feed_id: str, file: FileFingerprint) -> ResumePoint | None:
        """The resume point of this very file (same size, time and head), if one is kept."""
        entry = self._entries(profile).get(self._key(feed_id, file))
        if not isinstance(entry, dict) or entry.get("file") != asdict(file):
            return None
        try:
            point = entry["point"]
            return ResumePoint(
                import_id=str(point["import_id"]),
                last_row=max(0, int(point["last_row"])),
                total=None if point.get("total") is None else int(point["total"]),
                format=str(point["format"]),
                id_field=str(point["id_field"]),
                status=str(point.get("status") or ""),
                saved_at=float(point.get("saved_at") or 0),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def save(self, profile: str, feed_id: str, file: FileFingerprint, point: ResumePoint) -> None:
        """Remember where the import of `file` into `feed_id` stands."""
        entries = self._entries(profile)
        entries.pop(self._key(feed_id, file), None)
        entries[self._key(feed_id, file)] = {"file": asdict(file), "point": asdict(point)}
        while len(entries) > MAX_ENTRIES:
            entries.pop(next(iter(entries)))
        write_json_atomically(self._path(profile), entries)

    def forget(self, profile: str, feed_id: str, file: FileFingerprint) -> None:
        """Drop the resume point (the import finished, or the user started over)."""
        entries = self._entries(profile)
        if entries.pop(self._key(feed_id, file), None) is not None:
            if entries:
                write_json_atomically(self._path(profile), entries)
            else:
                self._path(profile).unlink(missing_ok=True)


def new_point(
    import_id: str,
    last_row: int,
    total: int | None,
    fmt: str,
    id_field: str,
    status: str,
) -> ResumePoint:
    """A resume point saved now."""
    return ResumePoint(import_id, last_row, total, fmt, id_field, status, time.time())
