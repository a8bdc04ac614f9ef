"""The bulk uploader's progress manifest: which byte ranges the server has accepted.

One small JSON file per (server URL, feed, file content), named by a hash of the three, so a
changed file gets a new manifest (and new keys). Written atomically (a temporary file,
fsync, `os.replace`), private (0600), and removed when the upload finishes. A batch the
server accepted after the last write is sent again on resume: the server answers it as a
replay of its deterministic Idempotency-Key, so nothing is applied twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

VERSION = 1


def manifest_id(url: str, feed: str, source_id: str) -> str:
    """The manifest's file stem: 32 hex digits of SHA-256 over `url|feed|source_id`."""
    return hashlib.sha256(f"{url}|{feed}|{source_id}".encode()).hexdigest()[:32]


def default_manifest_dir() -> Path:
    """`$XDG_STATE_HOME/integration-console/uploads` (default `~/.local/state/...`)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "integration-console" / "uploads"


@dataclass
class Counters:
    """What the upload has done so far, over every run of it."""

    items_sent: int = 0  # items the server accepted (replays included)
    duplicates: int = 0  # batches the server answered as replays
    duplicate_items: int = 0
    retries: int = 0  # requests sent again (429, 5xx, connection errors)
    batches_retried: int = 0
    batches_done: int = 0
    bytes_done: int = 0


@dataclass
class Manifest:
    """The state of one upload."""

    url: str
    feed: str
    source_id: str  # the content's SHA-256 (files) or the caller's name (iterables)
    path: str | None = None
    size: int | None = None
    mtime_ns: int | None = None
    format: str | None = None
    item_key: str | None = None
    max_batch_bytes: int = 0
    max_items: int = 0
    done: list[list[int]] = field(default_factory=list)  # merged [start, end) ranges
    done_keys: list[str] = field(default_factory=list)  # iterables: keys of accepted batches
    rejected: list[list[Any]] = field(default_factory=list)  # [item index, reason]
    counters: Counters = field(default_factory=Counters)
    created_at: float = field(default_factory=time.time)
    updated_at: float = 0.0

    def is_done(self, start: int, end: int) -> bool:
        """Whether the range [start, end) lies inside what the server has accepted."""
        return any(s <= start and end <= e for s, e in self.done)

    def mark_done(self, start: int, end: int) -> None:
        """Add [start, end) to the accepted ranges (merging neighbours)."""
        ranges = sorted([*self.done, [start, end]])
        merged: list[list[int]] = []
        for s, e in ranges:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        self.done = merged

    def to_json(self) -> dict[str, Any]:
        """The manifest as written to disk."""
        body = asdict(self)
        body["version"] = VERSION
        return body

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Manifest:
        """Parse a manifest written by `to_json` (ValueError when it is not one)."""
        if not isinstance(body, dict) or body.get("version") != VERSION:
            raise ValueError("not an upload manifest of this version")
        counters = body.get("counters") or {}
        known = set(Counters.__dataclass_fields__)
        done = [[int(s), int(e)] for s, e in body.get("done") or []]
        return cls(
            url=str(body["url"]),
            feed=str(body["feed"]),
            source_id=str(body["source_id"]),
            path=body.get("path"),
            size=body.get("size"),
            mtime_ns=body.get("mtime_ns"),
            format=body.get("format"),
            item_key=body.get("item_key"),
            max_batch_bytes=int(body.get("max_batch_bytes") or 0),
            max_items=int(body.get("max_items") or 0),
            done=done,
            done_keys=[str(k) for k in body.get("done_keys") or []],
            rejected=[[int(i), str(m)] for i, m in body.get("rejected") or []],
            counters=Counters(**{k: int(v) for k, v in counters.items() if k in known}),
            created_at=float(body.get("created_at") or time.time()),
            updated_at=float(body.get("updated_at") or 0.0),
        )


class ManifestStore:
    """Manifests in one directory (created 0700)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path_for(self, url: str, feed: str, source_id: str) -> Path:
        """Where the manifest of this upload lives."""
        return self.directory / f"{manifest_id(url, feed, source_id)}.json"

    def load(self, url: str, feed: str, source_id: str) -> Manifest | None:
        """The upload's manifest, or None when there is none (or it is unreadable)."""
        path = self.path_for(url, feed, source_id)
        try:
            manifest = Manifest.from_json(json.loads(path.read_bytes()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return None  # damaged: start again; replays keep the server free of duplicates
        if (manifest.url, manifest.feed, manifest.source_id) != (url, feed, source_id):
            return None
        return manifest

    def save(self, manifest: Manifest) -> Path:
        """Write atomically: a temporary file, fsync, rename over the old one, fsync the dir."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        manifest.updated_at = time.time()
        path = self.path_for(manifest.url, manifest.feed, manifest.source_id)
        data = json.dumps(manifest.to_json(), separators=(",", ":")).encode()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        with contextlib.suppress(OSError):  # not every platform can open a directory
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return path

    def remove(self, manifest: Manifest) -> None:
        """Delete the manifest (the upload finished)."""
        with contextlib.suppress(FileNotFoundError):
            self.path_for(manifest.url, manifest.feed, manifest.source_id).unlink()

    def remove_stale(self, url: str, feed: str, path: str, keep: str) -> list[Path]:
        """Delete manifests of the same file, server and feed whose content was different
        (the file changed since): their keys can never match again."""
        removed: list[Path] = []
        if not self.directory.is_dir():
            return removed
        for candidate in self.directory.glob("*.json"):
            if candidate.stem == keep:
                continue
            try:
                body = json.loads(candidate.read_bytes())
            except (OSError, ValueError):
                continue
            if isinstance(body, dict) and (body.get("url"), body.get("feed"), body.get("path")) == (
                url,
                feed,
                path,
            ):
                with contextlib.suppress(OSError):
                    candidate.unlink()
                    removed.append(candidate)
        return removed
