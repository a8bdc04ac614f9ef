"""The bulk uploader's progress manifest: which byte ranges the server has accepted.

One small JSON file per (server, feed, file content), named by a hash of the three, so a
changed file gets a new manifest (and new keys). The server is named by its base URL, or by
a stable name the caller gives (the console's embedded sandbox gets a new port at every
start: it is `sandbox:` + its data dir), kept in the manifest's `url` field. Written
atomically (a temporary file, fsync, `os.replace`), private (0600), and removed when the
upload finishes. A batch the server accepted after the last write is sent again on resume:
the server answers it as a replay of its deterministic Idempotency-Key, so nothing is
applied twice.

The rejected items are not in the manifest: it keeps their count and the first few, and
every one of them is appended to a sidecar file next to it (`upload_rejects`). A manifest of
version 1 (which listed every rejected item) is migrated to the sidecar when it is loaded.
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

from console.api.ingest_sources import content_sha256
from console.api.upload_rejects import RejectsFile, lowest, sidecar_for

VERSION = 2
# Version 1 listed every rejected item in the manifest; it is read, and migrated on load.
READABLE_VERSIONS = (1, VERSION)


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

    url: str  # the server's identity: its base URL unless the uploader was given a server_id
    feed: str
    source_id: str  # the content's SHA-256 (files) or the caller's name (iterables)
    path: str | None = None
    size: int | None = None
    mtime_ns: int | None = None
    format: str | None = None
    item_key: str | None = None
    # The field the stream keys items by, when no item key is given: the feed's id field as
    # the console knew it or a 400 named it. Kept so a resume leaves out the items without it
    # before sending, as the first run did, instead of learning it again from refusals.
    expected_key: str | None = None
    max_batch_bytes: int = 0
    max_items: int = 0
    done: list[list[int]] = field(default_factory=list)  # merged [start, end) ranges
    done_keys: list[str] = field(default_factory=list)  # iterables: keys of accepted batches
    rejected_count: int = 0  # items rejected, every one in the sidecar
    rejected_first: list[list[Any]] = field(default_factory=list)  # the lowest [index, reason]
    rejects_bytes: int = 0  # the sidecar's length this manifest accounts for
    counters: Counters = field(default_factory=Counters)
    created_at: float = field(default_factory=time.time)
    updated_at: float = 0.0

    @property
    def bytes_done(self) -> int:
        """Bytes of the file (items of an iterable) the server has accepted."""
        return sum(e - s for s, e in self.done)

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
        if not isinstance(body, dict) or body.get("version") not in READABLE_VERSIONS:
            raise ValueError("not an upload manifest of this version")
        counters = body.get("counters") or {}
        known = set(Counters.__dataclass_fields__)
        done = [[int(s), int(e)] for s, e in body.get("done") or []]
        if body["version"] == 1:  # every rejected item listed: counted here, moved on load
            legacy = legacy_rejected(body)
            count, first, length = len(legacy), lowest([], legacy), 0
        else:
            count = int(body.get("rejected_count") or 0)
            first = [(int(i), str(m)) for i, m in body.get("rejected_first") or []]
            length = int(body.get("rejects_bytes") or 0)
            if count < 0 or length < 0:
                raise ValueError("negative rejected count or length")
        return cls(
            url=str(body["url"]),
            feed=str(body["feed"]),
            source_id=str(body["source_id"]),
            path=body.get("path"),
            size=body.get("size"),
            mtime_ns=body.get("mtime_ns"),
            format=body.get("format"),
            item_key=body.get("item_key"),
            expected_key=_text_or_none(body.get("expected_key")),
            max_batch_bytes=int(body.get("max_batch_bytes") or 0),
            max_items=int(body.get("max_items") or 0),
            done=done,
            done_keys=[str(k) for k in body.get("done_keys") or []],
            rejected_count=count,
            rejected_first=[[i, m] for i, m in first],
            rejects_bytes=length,
            counters=Counters(**{k: int(v) for k, v in counters.items() if k in known}),
            created_at=float(body.get("created_at") or time.time()),
            updated_at=float(body.get("updated_at") or 0.0),
        )


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def legacy_rejected(body: dict[str, Any]) -> list[tuple[int, str]]:
    """The rejected items a version 1 manifest lists, as (index, reason)."""
    return [(int(i), str(m)) for i, m in body.get("rejected") or []]


@dataclass(frozen=True)
class PendingUpload:
    """An unfinished upload of a file, as its manifest left it."""

    manifest_path: Path
    manifest: Manifest

    @property
    def path(self) -> Path:
        """The file being uploaded."""
        assert self.manifest.path is not None
        return Path(self.manifest.path)

    @property
    def feed(self) -> str:
        """The feed (stream) it goes to."""
        return self.manifest.feed

    @property
    def size(self) -> int | None:
        """The file's size when the upload last ran."""
        return self.manifest.size

    @property
    def bytes_done(self) -> int:
        """Bytes of the file the server has accepted."""
        return self.manifest.bytes_done

    @property
    def items_sent(self) -> int:
        """Items the server has accepted so far."""
        return self.manifest.counters.items_sent

    @property
    def updated_at(self) -> float:
        """When the manifest was last written (epoch seconds)."""
        return self.manifest.updated_at

    def file_state(self) -> str:
        """`unchanged`, `changed` (other content than the upload's) or `missing` (or
        unreadable).

        Blocking (it may hash the file when its size or time differ): run it in a thread.
        """
        try:
            stat = self.path.stat()
            if (stat.st_size, stat.st_mtime_ns) == (self.manifest.size, self.manifest.mtime_ns):
                return "unchanged"
            if stat.st_size != self.manifest.size:
                return "changed"
            # Same size, another time (copied, touched): the content decides.
            same = content_sha256(self.path) == self.manifest.source_id
        except OSError:  # gone, or no longer readable here
            return "missing"
        return "unchanged" if same else "changed"


class ManifestStore:
    """Manifests in one directory (created 0700)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path_for(self, url: str, feed: str, source_id: str) -> Path:
        """Where the manifest of this upload lives."""
        return self.directory / f"{manifest_id(url, feed, source_id)}.json"

    def rejects_path_for(self, url: str, feed: str, source_id: str) -> Path:
        """Where the rejected items of this upload are appended (the manifest's sidecar)."""
        return sidecar_for(self.path_for(url, feed, source_id))

    def load(self, url: str, feed: str, source_id: str) -> Manifest | None:
        """The upload's manifest, or None when there is none (or it is unreadable).

        A version 1 manifest's rejected items are written to the sidecar and the manifest
        saved as this version before it is returned (blocking: run it in a thread).
        """
        path = self.path_for(url, feed, source_id)
        try:
            body = json.loads(path.read_bytes())
            manifest = Manifest.from_json(body)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            return None  # damaged: start again; replays keep the server free of duplicates
        if (manifest.url, manifest.feed, manifest.source_id) != (url, feed, source_id):
            return None
        if body["version"] == 1:
            try:
                self._migrate(manifest, legacy_rejected(body))
            except OSError:
                return None  # as a damaged one: start again
        return manifest

    def _migrate(self, manifest: Manifest, rejected: list[tuple[int, str]]) -> None:
        """Move a version 1 manifest's rejected items to a new sidecar, then save it as this
        version (a crash in between leaves the old manifest, migrated again next time)."""
        m = manifest
        sidecar = RejectsFile(self.rejects_path_for(m.url, m.feed, m.source_id))
        sidecar.keep(0)
        try:
            for start in range(0, len(rejected), 10_000):
                manifest.rejects_bytes += sidecar.append(rejected[start : start + 10_000])
            sidecar.sync()
        finally:
            sidecar.close()
        manifest.rejected_count = len(rejected)
        self.save(manifest)

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

    def pending(self, server_id: str) -> list[PendingUpload]:
        """Unfinished uploads of files to the server named `server_id`, newest first.

        Damaged or foreign files in the directory are skipped, as are uploads of
        iterables (nothing could resume them but the program that made them).
        """
        found: list[PendingUpload] = []
        if not self.directory.is_dir():
            return found
        for candidate in self.directory.glob("*.json"):
            try:
                manifest = Manifest.from_json(json.loads(candidate.read_bytes()))
            except (OSError, ValueError, KeyError, TypeError, RecursionError):
                continue  # RecursionError: json's own stop for absurd nesting
            if manifest.url != server_id or manifest.path is None:
                continue
            if candidate != self.path_for(manifest.url, manifest.feed, manifest.source_id):
                continue  # a copy under another name: not the upload's own manifest
            found.append(PendingUpload(candidate, manifest))
        found.sort(key=lambda upload: upload.updated_at, reverse=True)
        return found

    def discard(self, upload: PendingUpload) -> None:
        """Forget an unfinished upload (what the server accepted stays accepted)."""
        with contextlib.suppress(FileNotFoundError):
            upload.manifest_path.unlink()
        with contextlib.suppress(FileNotFoundError):
            sidecar_for(upload.manifest_path).unlink()

    def remove(self, manifest: Manifest) -> None:
        """Delete the manifest (the upload finished; its sidecar is handed over apart)."""
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
                with contextlib.suppress(OSError):
                    sidecar_for(candidate).unlink()
        return removed
