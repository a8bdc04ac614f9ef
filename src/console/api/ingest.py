"""Stream ingestion (`POST /api/ingest`, ingest keys): one call, and a resumable bulk uploader.

`BulkUploader` splits a file or an iterable into batches under 1 MB (`ingest_sources`),
sends each with a deterministic `Idempotency-Key` (feed, content hash, byte range), and
keeps a progress manifest (`upload_manifest`) so an upload stopped in any way, a killed
process included, resumes where it stopped without applying anything twice: a batch the
server accepted but the manifest had not yet recorded is answered as a replay
(`Idempotent-Replayed: true`) and counted as a duplicate. Rejected items go to the
manifest's append-only sidecar (`upload_rejects`), exactly once over every run; the summary
streams them from there and never holds them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import re
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from console.api.errors import ApiError
from console.api.ingest_sources import (
    FORMATS,
    MAX_BATCH_BYTES,
    MAX_BATCH_ITEMS,
    Batch,
    SourceFormat,
    batches,
    batches_of_items,
    content_sha256,
    excluded_tag,
    format_for,
    idempotency_key,
    missing_key_reason,
)
from console.api.transport import ApiClient
from console.api.upload_manifest import Manifest, ManifestStore
from console.api.upload_rejects import RejectedItems, RejectsFile, lowest, sweep_handed_over

log = logging.getLogger(__name__)

INGEST_PATH = "/api/ingest"
REPLAY_HEADER = "idempotent-replayed"
MANIFEST_EVERY_ENV = "INTEGRATION_CONSOLE_MANIFEST_EVERY"
MANIFEST_INTERVAL = 0.5  # seconds between manifest writes by default
MAX_TRIES = 8  # per batch, for connection errors and 5xx (then the upload stops, resumable)
MAX_RATE_LIMITED = 100  # consecutive 429s on one batch before the upload stops
_BACKOFF_FIRST, _BACKOFF_MAX = 0.5, 8.0
MAX_ITEM_KEY_LENGTH = 100  # the server's rule for X-Item-Key (a feed's id_field rule)
_INDEX = re.compile(r"^\[(\d+)\]")
# The contract's body cap on /api/ingest (one byte more is 413).
BODY_CAP_BYTES = 1_048_576
# `[i].FIELD`: a problem of item i's FIELD.
_ITEM_FIELD = re.compile(r"^\[\d+\]\.(.+)$")


@dataclass(frozen=True)
class IngestReceipt:
    """The server's 202: the stream, how many items it took, the request id, and whether it
    was a replay of an earlier request with the same Idempotency-Key."""

    stream: str
    items_received: int
    request_id: str
    replayed: bool
    correlation_id: str | None = None


class IngestApi:
    """`POST /api/ingest` with an ingest key (or an admin key naming the stream)."""

    def __init__(self, client: ApiClient) -> None:
        self._client = client

    async def send(
        self,
        feed: str,
        items: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        item_key: str | None = None,
        idempotency_key: str | None = None,
    ) -> IngestReceipt:
        """Send one item or a list of them to the feed's stream."""
        document: Any = dict(items) if isinstance(items, Mapping) else [dict(i) for i in items]
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return await self.send_body(
            feed, body.encode(), item_key=item_key, idempotency_key=idempotency_key
        )

    async def send_body(
        self,
        feed: str,
        body: bytes,
        *,
        item_key: str | None = None,
        idempotency_key: str | None = None,
        max_retries: int | None = None,
    ) -> IngestReceipt:
        """Send an already encoded JSON body (`max_retries`: the client's 429 retries; the
        uploader passes 0 and retries itself)."""
        headers = {"Content-Type": "application/json"}
        if item_key is not None:
            problem = item_key_problem(item_key)
            if problem:
                raise ValueError(problem)
            headers["X-Item-Key"] = item_key
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        response = await self._client.request(
            "POST",
            INGEST_PATH,
            params={"stream": feed},
            headers=headers,
            content=body,
            max_retries=max_retries,
        )
        try:
            answer = response.json()
        except ValueError:
            answer = None
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, dict):
            raise ApiError(
                response.status_code, "INVALID_RESPONSE", "The server's answer has no data."
            )
        return IngestReceipt(
            stream=str(data.get("stream") or feed),
            items_received=int(data.get("items_received") or 0),
            request_id=str(data.get("request_id") or response.headers.get("x-request-id") or ""),
            replayed=response.headers.get(REPLAY_HEADER, "").lower() == "true",
            correlation_id=response.headers.get("x-correlation-id"),
        )


@dataclass
class UploadProgress:
    """Where an upload stands (over every run of it, except `elapsed` and `rate`)."""

    bytes_done: int
    bytes_total: int | None  # None for an iterable
    items_sent: int  # accepted by the server, replays included
    duplicates: int  # batches answered as replays
    duplicate_items: int
    retries: int  # requests sent again (429, 5xx, connection errors)
    batches_retried: int
    batches_done: int
    batches_total: int | None  # known once the source is split to its end
    rejected_count: int
    elapsed: float  # seconds of this run
    rate: float  # items accepted per second in this run

    @property
    def fraction(self) -> float | None:
        """Done share of the file's bytes (None for an iterable)."""
        if not self.bytes_total:
            return None
        return min(1.0, self.bytes_done / self.bytes_total)


@dataclass
class UploadSummary(UploadProgress):
    """The finished upload: its rejected items (`rejects`: the count, the first few, and
    every one streamed from a file the caller discards once handed on), and the request
    and correlation ids of the batches this run sent, in the order they were accepted
    (earlier runs' batches are found in the logs by `BulkUploader.key_prefix`).
    `source_size` and `source_mtime_ns`: the uploaded file's, for checking it is still that
    version before its rejected items are cut from it (None for an iterable)."""

    rejects: RejectedItems = field(default_factory=lambda: RejectedItems(0, [], None))
    request_ids: list[str] = field(default_factory=list)
    correlation_ids: list[str] = field(default_factory=list)
    source_size: int | None = None
    source_mtime_ns: int | None = None


class UploadIncomplete(Exception):
    """The upload stopped before the end (server unreachable, 5xx persisting, or refused);
    the manifest is kept, so running it again resumes."""

    def __init__(
        self, message: str, *, manifest_path: Path | None, error: ApiError | None = None
    ) -> None:
        super().__init__(message)
        self.manifest_path = manifest_path
        self.error = error

    @property
    def refused(self) -> bool:
        """The server refused the request itself (a bad header such as the item key: 400;
        the key: 401/403; the stream: 404): sending it again cannot help."""
        return self.error is not None and self.error.status in (400, 401, 403, 404)


def item_key_problem(item_key: str) -> str | None:
    """Why `item_key` cannot be sent as X-Item-Key (None: it can): the server takes 1 to 100
    characters, not all whitespace; this client sends header values as ASCII."""
    if not item_key.strip() or len(item_key) > MAX_ITEM_KEY_LENGTH:
        return f"the item key must be 1 to {MAX_ITEM_KEY_LENGTH} characters, not all whitespace"
    if not item_key.isascii() or not item_key.isprintable():
        return "the item key must be printable ASCII (it is sent as the X-Item-Key header)"
    return None


def manifest_every_from_env() -> int | None:
    """`$INTEGRATION_CONSOLE_MANIFEST_EVERY` as a batch count (None: unset or invalid)."""
    value = os.environ.get(MANIFEST_EVERY_ENV, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


class BulkUploader:
    """Send a file (NDJSON, JSON array, CSV) or an iterable of objects to one stream."""

    def __init__(
        self,
        client: ApiClient,
        feed: str,
        source: Path | str | Iterable[Mapping[str, Any]],
        *,
        format: SourceFormat | None = None,
        item_key: str | None = None,
        concurrency: int = 4,
        manifest_dir: Path | None = None,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        max_items: int = MAX_BATCH_ITEMS,
        on_progress: Callable[[UploadProgress], None] | None = None,
        source_id: str | None = None,
        manifest_every: int | None = None,
        max_tries: int = MAX_TRIES,
        headroom: bool = True,
        server_id: str | None = None,
        expected_key: str | None = None,
        on_resume: Callable[[UploadProgress], None] | None = None,
    ) -> None:
        """`expected_key`: the field the stream keys items by when no `item_key` is given
        (the feed's id field, when the caller knows it): items without it are left out
        before sending, as the server would refuse them. `on_resume`: called once, with
        where it stands, when the upload goes on from an earlier run's manifest.
        `server_id` names the server in
        the manifest (default: the client's base URL; a server whose URL changes at each
        start, like the embedded sandbox, passes a stable name, so its uploads are found
        again after a restart)."""
        if not 1 <= concurrency <= 64:
            raise ValueError("concurrency must be between 1 and 64")
        if item_key is not None and (problem := item_key_problem(item_key)):
            raise ValueError(problem)
        if not 2 <= max_batch_bytes <= BODY_CAP_BYTES:
            # Over the server's body cap every batch would be a 413, on every rerun too.
            raise ValueError(f"max_batch_bytes must be 2 to {BODY_CAP_BYTES:,} bytes")
        if not 1 <= max_items <= MAX_BATCH_ITEMS:
            raise ValueError(f"max_items must be 1 to {MAX_BATCH_ITEMS:,}")
        if server_id is not None and not server_id:
            raise ValueError("server_id must not be empty")
        self._client = client
        self._server_id = server_id
        self._request_ids: list[str] = []
        self._correlation_ids: list[str] = []
        self._api = IngestApi(client)
        self.feed = feed
        # Wait out the window when the rate-limit headers say it is used up (False: rely on
        # 429 and Retry-After alone).
        self._headroom = headroom
        self._path: Path | None = None
        self._items: Iterable[Mapping[str, Any]] | None = None
        if isinstance(source, str | os.PathLike):
            self._path = Path(source)
        else:
            self._items = source
        self._format = format
        self.item_key = item_key
        self.concurrency = concurrency
        self._store = ManifestStore(manifest_dir) if manifest_dir is not None else None
        self._max_batch_bytes = max_batch_bytes
        self._max_items = max_items
        self._on_progress = on_progress
        self._source_id = source_id
        self._manifest_every = manifest_every or manifest_every_from_env()
        self._max_tries = max_tries
        self._manifest: Manifest | None = None
        self._rejects = RejectsFile(None)
        self._done_keys: set[str] = set()
        self._in_flight = 0
        self._unsaved = 0
        self._last_save = 0.0
        self._save_timer: asyncio.TimerHandle | None = None
        self._started = 0.0
        self._items_this_run = 0
        self._batches_total: int | None = None
        self._failure: BaseException | None = None
        # The item key a 400 named (when none was given), and whether a batch got through.
        self._learned_key: str | None = expected_key if item_key is None else None
        self._on_resume = on_resume
        self.resumed = False  # it went on from an earlier run's manifest
        self._any_accepted = False

    @property
    def manifest_path(self) -> Path | None:
        """Where the manifest is kept (None: no manifest directory, or not started)."""
        if self._store is None or self._manifest is None:
            return None
        m = self._manifest
        return self._store.path_for(m.url, m.feed, m.source_id)

    @property
    def server_id(self) -> str:
        """The server's name in the manifest (its base URL unless given)."""
        return self._server_id or self._client.base_url

    @property
    def key_prefix(self) -> str | None:
        """What every batch's Idempotency-Key of this file starts with (`ic1:FEED:HASH`):
        searched in the logs, it finds every batch of the upload, over all its runs.
        None until the upload has started, and for an iterable."""
        manifest = self._manifest
        if manifest is None or self._path is None:
            return None
        return idempotency_key(self.feed, manifest.source_id, 0, 0).rsplit(":", 1)[0]

    async def run(self) -> UploadSummary:
        """Upload everything not yet accepted; return the summary.

        Raises UploadIncomplete when it cannot finish (manifest kept), SourceError when the
        file is not the format it claims, OSError when it cannot be read. Cancelling the
        task stops it (in-flight batches are cancelled; the manifest is written first).
        """
        self._started = time.monotonic()
        opening = asyncio.ensure_future(asyncio.to_thread(self._open_manifest))
        try:
            manifest = await asyncio.shield(opening)
        except asyncio.CancelledError:
            # Stopped while the file was being hashed (a pause or close at once): the
            # thread goes on; its manifest is written, so the upload stays resumable
            # instead of vanishing with nothing kept.
            with contextlib.suppress(Exception):
                self._manifest = await opening
                self._save(force=True)
                self._rejects.close()
            raise
        self._manifest = manifest
        if self.resumed and self._on_resume is not None:
            try:
                self._on_resume(self._progress())
            except Exception:
                log.exception("upload resume callback failed")
        try:
            try:
                await self._send_all(manifest)
            except BaseException:
                self._save(force=True)
                raise
            if self._failure is not None:
                self._save(force=True)
                raise self._failure
            if self._path is not None:
                stat = self._path.stat()
                if (stat.st_size, stat.st_mtime_ns) != (manifest.size, manifest.mtime_ns):
                    self._save(force=True)
                    raise UploadIncomplete(
                        f"{self._path} changed during the upload; run again to send its new "
                        "content",
                        manifest_path=self.manifest_path,
                    )
        except BaseException:
            self._rejects.close()
            if self._store is None:  # nothing can resume it: its rejected items go too
                self._rejects.hand_over(0, [])
            raise
        self._cancel_timer()
        if self._store is not None:
            self._store.remove(manifest)
        # After the manifest is gone: a crash in between leaves a sidecar no manifest
        # counts, which the next upload of this file cuts back to nothing.
        rejects = await asyncio.to_thread(
            self._rejects.hand_over, manifest.rejected_count, manifest.rejected_first
        )
        summary = UploadSummary(
            **asdict(self._progress()),
            rejects=rejects,
            request_ids=list(self._request_ids),
            correlation_ids=list(self._correlation_ids),
            source_size=manifest.size,
            source_mtime_ns=manifest.mtime_ns,
        )
        return summary

    def _open_manifest(self) -> Manifest:
        url = self.server_id
        if self._path is not None:
            fmt = self._format or format_for(self._path)
            if fmt is None or fmt not in FORMATS:
                raise ValueError(
                    f"cannot tell the format of {self._path.name}: name it .ndjson, .jsonl, "
                    ".json or .csv, or give the format"
                )
            self._format = fmt
            stat = self._path.stat()
            source_id = content_sha256(self._path)
            path_text: str | None = str(self._path.resolve())
        else:
            stat = None
            source_id = f"iterable:{self._source_id or ''}"
            path_text = None
        fresh = Manifest(
            url=url,
            feed=self.feed,
            source_id=source_id,
            path=path_text,
            size=stat.st_size if stat else None,
            mtime_ns=stat.st_mtime_ns if stat else None,
            format=self._format,
            item_key=self.item_key,
            expected_key=self._learned_key,
            max_batch_bytes=self._max_batch_bytes,
            max_items=self._max_items,
        )
        if self._store is None:
            return fresh
        sweep_handed_over(self._store.directory)
        self._rejects = RejectsFile(self._store.rejects_path_for(url, self.feed, source_id))
        if path_text is not None:
            removed = self._store.remove_stale(
                url, self.feed, path_text, keep=self._store.path_for(url, self.feed, source_id).stem
            )
            if removed:
                log.info("%s changed since an earlier upload: its old manifest is gone", path_text)
        found = self._store.load(url, self.feed, source_id)
        if found is None or (found.format, found.item_key) != (self._format, self.item_key):
            self._rejects.keep(0)
            return fresh
        # Lines appended after the manifest's last write belong to batches it does not
        # record as done: they are sent again and reject their items again.
        if not self._rejects.keep(found.rejects_bytes):
            log.info("the rejected items of an earlier run are missing: starting again")
            self._rejects.keep(0)
            return fresh
        # Resume: the same cut as before, whatever limits this run was given, and the items
        # without the key an earlier run learnt left out before sending again.
        found.size, found.mtime_ns = fresh.size, fresh.mtime_ns
        if self.item_key is None:
            self._learned_key = self._learned_key or found.expected_key
            found.expected_key = self._learned_key
        self.resumed = True
        self._done_keys = {k for k in found.done_keys}
        return found

    def _source_batches(self, manifest: Manifest) -> Generator[Batch, None, None]:
        if self._path is not None:
            assert self._format is not None
            return batches(
                self._path,
                self._format,
                max_bytes=manifest.max_batch_bytes,
                max_items=manifest.max_items,
                item_key=self.item_key,
                content_sha=manifest.source_id,
            )
        assert self._items is not None
        return batches_of_items(
            self._items,
            max_bytes=manifest.max_batch_bytes,
            max_items=manifest.max_items,
            item_key=self.item_key,
        )

    def _key(self, batch: Batch, excluded: set[int]) -> str:
        tag = excluded_tag(excluded) if excluded else ""
        return idempotency_key(self.feed, batch.digest, batch.start, batch.end, tag)

    def _is_done(self, manifest: Manifest, batch: Batch) -> bool:
        if self._path is not None:
            return manifest.is_done(batch.start, batch.end)
        return self._key(batch, set()) in self._done_keys

    async def _send_all(self, manifest: Manifest) -> None:
        slots = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        source = self._source_batches(manifest)
        reading: asyncio.Future[Batch | None] | None = None
        count = 0

        def finished(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            slots.release()
            if not task.cancelled() and task.exception() is not None and self._failure is None:
                self._failure = task.exception()

        try:
            while not self._stopped():
                await slots.acquire()
                if self._stopped():  # a batch failed while this one waited for a slot
                    slots.release()
                    break
                # Parsing runs in a thread so the event loop keeps answering in-flight sends.
                reading = asyncio.ensure_future(asyncio.to_thread(next, source, None))
                batch = await asyncio.shield(reading)
                if batch is None:
                    slots.release()
                    self._batches_total = count
                    break
                count += 1
                if self._is_done(manifest, batch):
                    slots.release()
                    self._report()
                    continue
                task = asyncio.create_task(self._upload(manifest, batch))
                tasks.add(task)
                task.add_done_callback(finished)
            if tasks:
                await asyncio.wait(list(tasks))
        except BaseException:
            for task in list(tasks):
                task.cancel()
            if tasks:
                await asyncio.wait(list(tasks))
            raise
        finally:
            # A cancelled read still runs in its thread: let it end before closing the file.
            if reading is not None and not reading.done():
                await asyncio.wait([reading])
            source.close()

    def _stopped(self) -> bool:
        return self._failure is not None

    async def _upload(self, manifest: Manifest, batch: Batch) -> None:
        """Send one batch until the server accepts it (or the upload must stop)."""
        excluded: set[int] = set()
        rejected: list[tuple[int, str]] = list(batch.rejected)
        tries = 0
        limited = 0
        retried = False
        receipt: IngestReceipt | None = None
        self._precheck(batch, excluded, rejected)
        while len(excluded) < len(batch.numbers):
            kept = [n for n in batch.numbers if n not in excluded]
            key = self._key(batch, excluded)
            await self._wait_for_headroom()
            self._in_flight += 1
            try:
                receipt = await self._api.send_body(
                    self.feed,
                    batch.body_without(frozenset(excluded)) if excluded else batch.body,
                    item_key=self.item_key,
                    idempotency_key=key,
                    max_retries=0,
                )
                break
            except ApiError as error:
                if error.status == 429:
                    limited += 1
                    if limited > MAX_RATE_LIMITED:
                        raise self._incomplete("the server kept answering 429", error) from None
                    wait = (error.retry_after or 1.0) * (1 + random.random() * 0.1)
                elif error.status == 0 or error.status >= 500:
                    tries += 1
                    if tries >= self._max_tries:
                        raise self._incomplete(
                            f"batch {batch.index} failed {tries} times: {error}", error
                        ) from None
                    wait = min(_BACKOFF_FIRST * 2 ** (tries - 1), _BACKOFF_MAX)
                elif error.status == 400 and error.code == "INVALID_PAYLOAD":
                    refused = _refused_items(error, kept)
                    rejected.extend(refused)
                    excluded.update(number for number, _ in refused)
                    if self.item_key is None and self._learned_key is None:
                        self._learned_key = _item_key_named(error)
                        manifest.expected_key = self._learned_key
                    # An error body lists at most 100 problems: the rest of the items
                    # without the key are found here, not 100 per round trip.
                    self._precheck(batch, excluded, rejected)
                    continue
                else:
                    raise self._incomplete(
                        f"the server refused the upload: {error}", error
                    ) from None
                retried = True
                counters = manifest.counters
                counters.retries += 1
                log.info("batch %d: retry in %.1f s (%s)", batch.index, wait, error)
                self._report()
                await asyncio.sleep(wait)
            finally:
                self._in_flight -= 1
        if receipt is None and not self._any_accepted and self._learned_key is not None:
            # Not one item of the first batch has the field the stream keys items by: the
            # file names its items by another field, and every batch would fail alike.
            raise UploadIncomplete(
                f"no item of the first batch has the field {self._learned_key!r}, which the "
                "stream identifies items by; name the field that identifies your items as "
                "the item key (--item-key FIELD)",
                manifest_path=self.manifest_path,
                error=ApiError(400, "INVALID_PAYLOAD", rejected[0][1] if rejected else ""),
            )
        self._any_accepted = self._any_accepted or receipt is not None
        self._accepted(
            manifest, batch, receipt, rejected, retried, len(batch.numbers) - len(excluded)
        )

    def _precheck(self, batch: Batch, excluded: set[int], rejected: list[tuple[int, str]]) -> None:
        """Leave out, as the server would refuse them, the items without the field the
        stream keys them by (the expected key given, or the one a 400 named), with the
        server's own reason (only when no item key was given: a given one was checked as
        the file was split). Deterministic, so a resumed batch gets its key."""
        key = self._learned_key
        if self.item_key is not None or key is None:
            return
        for number, encoded in zip(batch.numbers, batch.encoded, strict=True):
            if number in excluded:
                continue
            item = json.loads(encoded)
            if isinstance(item, dict) and key not in item:
                excluded.add(number)
                rejected.append((number, missing_key_reason(key, number)))

    def _accepted(
        self,
        manifest: Manifest,
        batch: Batch,
        receipt: IngestReceipt | None,
        rejected: list[tuple[int, str]],
        retried: bool,
        sent: int,
    ) -> None:
        if rejected:
            # In the sidecar before anything counts the batch as done: a manifest written
            # from now on accounts for these lines, and one written before does not. A
            # failed append stops here, with nothing of the batch counted.
            entries = sorted(rejected)
            manifest.rejects_bytes += self._rejects.append(entries)
            manifest.rejected_count += len(entries)
            manifest.rejected_first = [[i, m] for i, m in lowest(manifest.rejected_first, entries)]
        counters = manifest.counters
        if receipt is not None:
            if receipt.request_id:
                self._request_ids.append(receipt.request_id)
            if receipt.correlation_id:
                self._correlation_ids.append(receipt.correlation_id)
            items = receipt.items_received or sent
            counters.items_sent += items
            self._items_this_run += items
            if receipt.replayed:
                counters.duplicates += 1
                counters.duplicate_items += items
        counters.batches_done += 1
        counters.batches_retried += 1 if retried else 0
        if self._path is not None:
            manifest.mark_done(batch.start, batch.end)
        else:
            key = self._key(batch, set())
            self._done_keys.add(key)
            manifest.done_keys.append(key)
            manifest.mark_done(batch.start, batch.end)
        self._unsaved += 1
        self._save()
        self._report()

    async def _wait_for_headroom(self) -> None:
        """Before a send: when the server's window has no room beyond what is in flight,
        wait for its reset (at most 5 minutes at a time; the 429 path covers the rest).

        Checked again after each wait: other batches may have used the new window while
        this one slept its jitter.
        """
        state = self._client.rate_limit
        while self._headroom:
            if state.remaining is None or state.reset_at is None:
                return
            if state.remaining > self._in_flight:
                return
            wait = state.reset_at - time.time()
            if wait <= 0:
                return
            await asyncio.sleep(min(wait, 300.0) + random.random() * 0.1)

    def _incomplete(self, message: str, error: ApiError) -> UploadIncomplete:
        return UploadIncomplete(message, manifest_path=self.manifest_path, error=error)

    def _save(self, *, force: bool = False) -> None:
        """Write the manifest: every N accepted batches with $INTEGRATION_CONSOLE_MANIFEST_EVERY,
        else at most every 0.5 s (a timer writes what a throttled call left)."""
        manifest = self._manifest
        if self._store is None or manifest is None:
            return
        if not force:
            if not self._unsaved:
                return
            if self._manifest_every is not None:
                if self._unsaved < self._manifest_every:
                    return
            else:
                due = self._last_save + MANIFEST_INTERVAL - time.monotonic()
                if due > 0:
                    if self._save_timer is None:
                        loop = asyncio.get_running_loop()
                        self._save_timer = loop.call_later(due, self._timed_save)
                    return
        self._cancel_timer()
        self._rejects.sync()  # the manifest never counts a line the disk may not have
        self._store.save(manifest)
        self._unsaved = 0
        self._last_save = time.monotonic()

    def _timed_save(self) -> None:
        self._save_timer = None
        try:
            self._save()
        except OSError:
            log.exception("could not write the upload manifest")

    def _cancel_timer(self) -> None:
        if self._save_timer is not None:
            self._save_timer.cancel()
            self._save_timer = None

    def _progress(self) -> UploadProgress:
        manifest = self._manifest
        assert manifest is not None
        counters = manifest.counters
        elapsed = time.monotonic() - self._started
        if self._path is not None:
            done_bytes = sum(e - s for s, e in manifest.done)
            total: int | None = manifest.size
        else:
            done_bytes, total = 0, None
        return UploadProgress(
            bytes_done=done_bytes,
            bytes_total=total,
            items_sent=counters.items_sent,
            duplicates=counters.duplicates,
            duplicate_items=counters.duplicate_items,
            retries=counters.retries,
            batches_retried=counters.batches_retried,
            batches_done=counters.batches_done,
            batches_total=self._batches_total,
            rejected_count=manifest.rejected_count,
            elapsed=elapsed,
            rate=self._items_this_run / elapsed if elapsed > 0 else 0.0,
        )

    def _report(self) -> None:
        if self._on_progress is None:
            return
        try:
            self._on_progress(self._progress())
        except Exception:
            log.exception("upload progress callback failed")


def _item_key_named(error: ApiError) -> str | None:
    """The item field a 400 INVALID_PAYLOAD names as `[i].FIELD`: on /api/ingest the one
    field checked per item is the item key (the feed's id field unless X-Item-Key)."""
    for problem in error.problems:
        match = _ITEM_FIELD.match(problem.field or "")
        if match:
            return match.group(1)
    return None


def _refused_items(error: ApiError, kept: list[int]) -> list[tuple[int, str]]:
    """The (source index, reason) of each item a 400 INVALID_PAYLOAD names by its `[i]`
    in the body sent; when it names none, every item sent is refused with its message."""
    found: dict[int, str] = {}
    for problem in error.problems:
        match = _INDEX.match(problem.field or "")
        if not match or int(match.group(1)) >= len(kept):
            continue
        position = int(match.group(1))
        number = kept[position]
        if number in found:
            continue
        message = problem.message
        if problem.field and not message.startswith(problem.field):
            message = f"{problem.field}: {message}"
        found[number] = _renumbered(message, position, number)
    if not found:
        reason = str(error)
        return [(number, reason) for number in kept]
    return sorted(found.items())


def _renumbered(message: str, position: int, number: int) -> str:
    """The server's message with its leading `[position]` (index in the batch) replaced by
    the item's index in the source."""
    prefix = f"[{position}]"
    return f"[{number}]" + message[len(prefix) :] if message.startswith(prefix) else message
