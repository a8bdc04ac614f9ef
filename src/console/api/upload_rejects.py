"""The bulk uploader's rejected items, kept out of memory and out of the manifest.

Every rejected item is one NDJSON line `{"item": INDEX, "reason": TEXT}` appended to a
private sidecar file next to the upload's manifest (`<manifest stem>.rejects.ndjson`, 0600
in the 0700 manifest directory). The manifest keeps only the count, the first few (lowest
indexes) for display, and how many bytes of the sidecar it accounts for.

Exactly once, a killed process included: a batch's lines are appended (written to the OS)
before the batch is marked done in memory, and the sidecar is fsynced before each manifest
write, so a manifest on disk never counts lines the sidecar lacks. A resume cuts the sidecar
back to the length the manifest counts: the lines beyond it belong to batches the manifest
does not record as done, which are sent again and reject their items again. A sidecar
shorter than the manifest counts (lost or cut by hand) makes the manifest unusable, like a
damaged one: the upload starts again (the server answers what it has as replays).

When the upload finishes, the sidecar is renamed to a name of its own (so a new upload of the
same file starts a new one) and handed to the caller as `RejectedItems`: the count, the first
few, and every item streamed from the file by index (batches finish out of order: their
sorted runs are merged as the file is read), never a list of all of them. The caller removes
it (`discard`) once it has handed the items on; a process that exits first removes it too,
and a handed-over file left behind by a killed process is swept after `HANDED_OVER_MAX_AGE`.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import re
import secrets
import shutil
import tempfile
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

FIRST_REJECTS = 100  # rejected items the manifest keeps for display (the lowest indexes)
MAX_REASON_CHARS = 1000  # a longer reason is cut (the server's messages may quote the item)
SIDECAR_SUFFIX = ".rejects.ndjson"
HANDED_OVER_SUFFIX = ".finished-rejects.ndjson"
HANDED_OVER_MAX_AGE = 7 * 24 * 3600.0  # seconds; a killed process's leftovers are swept after
_READ_CHUNK = 1 << 16  # bytes read at a time from each run being merged
_ITEM = re.compile(rb'^\{"item": (\d+),')  # how `encode` starts every line


def capped(reason: str) -> str:
    """`reason`, cut to MAX_REASON_CHARS characters (ending with `…` when cut)."""
    if len(reason) <= MAX_REASON_CHARS:
        return reason
    return reason[: MAX_REASON_CHARS - 1] + "…"


def encode(entries: Iterable[tuple[int, str]]) -> bytes:
    """The NDJSON lines of `entries` (reasons capped), as the sidecar and `--rejects` hold them."""
    return b"".join(
        json.dumps({"item": index, "reason": capped(reason)}, ensure_ascii=False).encode("utf-8")
        + b"\n"
        for index, reason in entries
    )


def lowest(
    first: Iterable[Sequence[Any]], entries: Iterable[tuple[int, str]]
) -> list[tuple[int, str]]:
    """The FIRST_REJECTS entries with the lowest indexes of both (reasons capped)."""
    merged = ((int(i), capped(str(m))) for i, m in (*first, *entries))
    return heapq.nsmallest(FIRST_REJECTS, merged)


def sidecar_for(manifest_path: Path) -> Path:
    """The sidecar of the manifest at `manifest_path`."""
    return manifest_path.with_name(manifest_path.stem + SIDECAR_SUFFIX)


def sweep_handed_over(directory: Path, *, max_age: float = HANDED_OVER_MAX_AGE) -> None:
    """Delete handed-over sidecars older than `max_age` (a process killed before removing
    its own); younger ones may still be shown by a running console."""
    if not directory.is_dir():
        return
    now = time.time()
    for candidate in directory.glob(f"*{HANDED_OVER_SUFFIX}"):
        with contextlib.suppress(OSError):
            if now - candidate.stat().st_mtime > max_age:
                candidate.unlink()


class RejectsFile:
    """The append-only sidecar of one upload in progress.

    `path` None: no manifest directory; the file goes into a private temporary directory
    made at the first rejected item.
    """

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._temporary: Path | None = None
        self._fd: int | None = None
        self._length = 0  # bytes in the file, all whole lines
        self._broken = False
        self._unsynced = False

    @property
    def path(self) -> Path | None:
        """Where the items are appended (None until the first one without a directory)."""
        return self._path

    def keep(self, length: int) -> bool:
        """Cut the file back to its first `length` bytes (0: remove it); False when it has
        fewer (the manifest counts lines the file lacks). Blocking."""
        if self._path is None:
            return length == 0
        if length == 0:
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()
            return True
        try:
            fd = os.open(self._path, os.O_WRONLY)
        except FileNotFoundError:
            return False
        try:
            if os.fstat(fd).st_size < length:
                return False
            os.ftruncate(fd, length)
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def append(self, entries: Sequence[tuple[int, str]]) -> int:
        """Append one line per entry (written to the OS before it returns, so a killed
        process keeps it); returns the bytes written."""
        data = encode(entries)
        if not data:
            return 0
        if self._broken:
            raise OSError("an earlier write of the rejected items failed")
        fd = self._open()
        view = memoryview(data)
        try:
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except OSError:
            # Never append after half a line: the manifest's count of bytes would no longer
            # end on a line. Cut it off if possible; a resume cuts it off in any case.
            self._broken = True
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self._length)
            raise
        self._length += len(data)
        self._unsynced = True
        return len(data)

    def sync(self) -> None:
        """fsync what was appended since the last call (before the manifest counts it)."""
        if self._fd is not None and self._unsynced:
            os.fsync(self._fd)
            self._unsynced = False

    def close(self) -> None:
        """Close the file (kept on disk)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._unsynced = False

    def hand_over(self, count: int, first: Sequence[Sequence[Any]]) -> RejectedItems:
        """Close the file and give it, under a name of its own, to a `RejectedItems` (no
        file when nothing was rejected). Blocking."""
        self.close()
        path = self._path
        if count == 0 or path is None:
            if path is not None:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            if self._temporary is not None:
                shutil.rmtree(self._temporary, ignore_errors=True)
            return RejectedItems(0, [], None)
        if self._temporary is None:
            stem = path.name.removesuffix(SIDECAR_SUFFIX)
            target = path.with_name(f"{stem}-{secrets.token_hex(4)}{HANDED_OVER_SUFFIX}")
            try:
                os.replace(path, target)
                path = target
            except OSError:  # the items are all there: hand them over under the old name
                pass
        items = [(int(i), str(m)) for i, m in first]
        return RejectedItems(count, items, path, temporary=self._temporary)

    def _open(self) -> int:
        if self._fd is None:
            if self._path is None:
                self._temporary = Path(tempfile.mkdtemp(prefix="integration-console-rejects-"))
                self._path = self._temporary / f"upload{SIDECAR_SUFFIX}"
            else:
                self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
            self._fd = os.open(self._path, flags, 0o600)
            self._length = os.fstat(self._fd).st_size
        return self._fd


def _remove(path: Path | None, temporary: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink()
    if temporary is not None:
        shutil.rmtree(temporary, ignore_errors=True)


def _index(line: bytes) -> int:
    match = _ITEM.match(line)
    return int(match.group(1)) if match else int(json.loads(line)["item"])


def _lines(fd: int, start: int, end: int) -> Iterator[bytes]:
    """The lines of the file `fd` from byte `start` to `end`, read a chunk at a time."""
    rest = b""
    while start < end:
        chunk = os.pread(fd, min(_READ_CHUNK, end - start), start)
        if not chunk:
            break
        start += len(chunk)
        *lines, rest = (rest + chunk).split(b"\n")
        for line in lines:
            yield line + b"\n"
    if rest:
        yield rest + b"\n"


def _runs(fd: int) -> list[tuple[int, int, int]]:
    """(first index, start, end) of each run of lines with rising indexes in the file."""
    runs: list[tuple[int, int, int]] = []
    start = offset = 0
    first = previous = -1
    for line in _lines(fd, 0, os.fstat(fd).st_size):
        index = _index(line)
        if index <= previous:
            runs.append((first, start, offset))
            start, first = offset, index
        elif first < 0:
            first = index
        previous = index
        offset += len(line)
    if offset > start:
        runs.append((first, start, offset))
    return runs


def _in_order(fd: int) -> Iterator[bytes]:
    """The file's lines by item index, in bounded memory.

    A batch's lines are appended sorted, and batches cover disjoint ranges of items, so the
    file is a few sorted runs (as many as batches finished out of order). They are merged,
    each opened only once the merge reaches its first index: the runs read at once are the
    ones whose ranges overlap, not all of them.
    """
    runs = sorted(_runs(fd))
    heap: list[tuple[int, int, bytes, Iterator[bytes]]] = []
    opened = 0
    while heap or opened < len(runs):
        while opened < len(runs) and (not heap or runs[opened][0] <= heap[0][0]):
            _, start, end = runs[opened]
            reader = _lines(fd, start, end)
            line = next(reader)
            heapq.heappush(heap, (_index(line), opened, line, reader))
            opened += 1
        _, number, line, reader = heap[0]
        yield line
        following = next(reader, None)
        if following is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (_index(following), number, following, reader))


class RejectedItems:
    """A finished upload's rejected items: `count`, `first` (up to FIRST_REJECTS, lowest
    indexes first), and every one streamed from `path` by index (iterate, or `copy_to`).
    `discard` removes the file; so does the end of the process."""

    def __init__(
        self,
        count: int,
        first: list[tuple[int, str]],
        path: Path | None,
        *,
        temporary: Path | None = None,
    ) -> None:
        self.count = count
        self.first = first
        self.path = path
        self._file: BinaryIO | None = None  # set on the view `pinned` gives
        self._finalizer = weakref.finalize(self, _remove, path, temporary)

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count > 0

    def __iter__(self) -> Iterator[tuple[int, str]]:
        """Every rejected item, (index, reason), by index, read from the file as it goes."""
        for line in self._lines():
            entry = json.loads(line)
            yield int(entry["item"]), str(entry["reason"])

    def lines(self) -> Iterator[bytes]:
        """Every rejected item's NDJSON line `{"item": index, "reason": text}`, by index."""
        return self._lines()

    def _lines(self) -> Iterator[bytes]:
        if self._file is not None:
            yield from _in_order(self._file.fileno())
            return
        if self.path is None:
            return
        with self.path.open("rb") as file:
            yield from _in_order(file.fileno())

    @contextlib.contextmanager
    def pinned(self) -> Iterator[RejectedItems]:
        """These items read through one file held open while the block runs: a `discard`
        meanwhile (the dialog closed during a save) removes the name, not what is being
        read. Blocking (opens the file)."""
        if self._file is not None or self.path is None:
            yield self
            return
        with self.path.open("rb") as file:
            view = RejectedItems(self.count, self.first, None)
            view._file = file
            yield view

    def copy_to(self, target: Path) -> int:
        """Write every rejected item to `target` as NDJSON `{"item": index, "reason": text}`,
        by index: private (0600), and only whole (a temporary file renamed over it). Returns
        how many items were written. Blocking."""
        target = Path(target)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                out.writelines(self._lines())
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        return self.count

    def discard(self) -> None:
        """Remove the file (the items have been handed on, or are no longer wanted)."""
        self._finalizer()

    def keep(self) -> None:
        """Leave the file where it is after this process ends (it could not be handed on:
        the user was told its path). Swept after HANDED_OVER_MAX_AGE like any left behind."""
        self._finalizer.detach()

    def __enter__(self) -> RejectedItems:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.discard()
