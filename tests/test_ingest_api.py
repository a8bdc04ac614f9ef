"""The stream-ingestion API layer (IngestApi, BulkUploader) against the real sandbox."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from console.api.feeds import FeedsApi
from console.api.ingest import BulkUploader, IngestApi, UploadIncomplete, UploadProgress
from console.api.ingest_sources import batches
from console.api.transport import ApiClient, RateLimitState, RequestOutcome, RetryWait
from console.api.upload_manifest import Manifest, ManifestStore
from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import mint_key as store_mint_key
from tests.conftest import run

FEED = "shop"


def _ndjson(path: Path, count: int, *, start: int = 0, pad: int = 20) -> Path:
    lines = (json.dumps({"id": f"item-{i}", "n": i, "pad": "p" * pad}) for i in range(start, count))
    path.write_text("".join(line + "\n" for line in lines))
    return path


async def _records(url: str, admin: str, expected: int, within: float = 30) -> int:
    """The feed's record count once it reaches `expected` (or the deadline passes)."""
    client = ApiClient(url, admin)
    try:
        deadline = time.monotonic() + within
        while True:
            count = (await FeedsApi(client).get(FEED)).record_count
            if count >= expected or time.monotonic() > deadline:
                return count
            await asyncio.sleep(0.1)
    finally:
        await client.aclose()


class Exchanges:
    """Counts the client's requests to /api/ingest and its 429 answers."""

    def __init__(self, client: ApiClient) -> None:
        self.posts = 0
        self.rate_limited = 0
        self.refused = 0  # 400 answers
        self.transport_waits = 0
        client.add_observer(self)

    def __call__(self, event: RequestOutcome | RetryWait) -> None:
        if isinstance(event, RetryWait):
            self.transport_waits += 1
        elif event.path == "/api/ingest":
            self.posts += 1
            self.rate_limited += event.status == 429
            self.refused += event.status == 400


@pytest.fixture
def keys(mint_key: Callable[..., str], account: str) -> tuple[str, str]:
    """(admin key, ingest key of the feed `shop`, id field `id`) of a fresh account."""
    admin = mint_key(account, "admin")
    return admin, mint_key(account, "ingest", FEED)


def test_send_answers_receipt_and_replay_flag(sandbox_url: str, keys: tuple[str, str]) -> None:
    admin, ingest = keys

    async def main() -> None:
        client = ApiClient(sandbox_url, ingest)
        try:
            api = IngestApi(client)
            first = await api.send(FEED, [{"id": "a", "v": 1}, {"id": "b"}], idempotency_key="k-1")
            assert (first.stream, first.items_received, first.replayed) == (FEED, 2, False)
            assert first.request_id.startswith("req_")
            again = await api.send(FEED, {"id": "c"}, idempotency_key="k-1")
            assert again.replayed
            assert (again.request_id, again.items_received) == (first.request_id, 2)
            single = await api.send(FEED, {"sku": "d", "id": "d"}, item_key="sku")
            assert (single.items_received, single.replayed) == (1, False)
        finally:
            await client.aclose()
        assert await _records(sandbox_url, admin, 3) == 3

    run(main())


def test_uploader_sends_a_file_in_batches_and_removes_its_manifest(
    sandbox_url: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    admin, ingest = keys
    source = _ndjson(tmp_path / "items.ndjson", 2500)
    seen: list[UploadProgress] = []

    async def main() -> None:
        client = ApiClient(sandbox_url, ingest)
        exchanges = Exchanges(client)
        try:
            uploader = BulkUploader(
                client,
                FEED,
                source,
                manifest_dir=tmp_path / "manifests",
                max_items=1000,
                on_progress=seen.append,
            )
            summary = await uploader.run()
        finally:
            await client.aclose()
        assert (summary.items_sent, summary.batches_done, summary.duplicates) == (2500, 3, 0)
        assert summary.bytes_done == summary.bytes_total == source.stat().st_size
        assert summary.rejected_count == 0
        assert summary.rejects.path is None
        assert exchanges.posts == 3
        assert not list((tmp_path / "manifests").glob("*.json"))
        assert await _records(sandbox_url, admin, 2500) == 2500

    run(main())
    assert [p.batches_done for p in seen][-1] == 3
    assert seen[-1].fraction == 1.0


def test_resume_sends_only_what_the_manifest_lacks_and_counts_replays(
    sandbox_url: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    """Batches the server accepted after the manifest's last write are replays on resume."""
    admin, ingest = keys
    source = _ndjson(tmp_path / "items.ndjson", 5000)
    manifests = tmp_path / "manifests"

    async def main() -> None:
        client = ApiClient(sandbox_url, ingest)
        try:
            # A first run that the server saw whole but whose manifest recorded only two
            # batches (as if the client were killed right after them).
            first = await BulkUploader(client, FEED, source, max_items=1000).run()
            assert first.batches_done == 5
            cut = list(batches(source, "ndjson", max_items=1000))
            store = ManifestStore(manifests)
            from console.api.ingest_sources import content_sha256

            manifest = Manifest(
                url=client.base_url,
                feed=FEED,
                source_id=content_sha256(source),
                path=str(source.resolve()),
                format="ndjson",
                max_batch_bytes=1_000_000,
                max_items=1000,
            )
            for batch in cut[:2]:
                manifest.mark_done(batch.start, batch.end)
            manifest.counters.items_sent = 2000
            manifest.counters.batches_done = 2
            path = store.save(manifest)
            assert path.stat().st_mode & 0o777 == 0o600
            exchanges = Exchanges(client)
            # A larger limit this time: the manifest's cut wins, or the keys would differ.
            summary = await BulkUploader(
                client, FEED, source, manifest_dir=manifests, max_items=5000
            ).run()
        finally:
            await client.aclose()
        assert exchanges.posts == 3
        assert (summary.batches_done, summary.duplicates, summary.duplicate_items) == (5, 3, 3000)
        assert summary.items_sent == 5000
        assert not path.exists()
        assert await _records(sandbox_url, admin, 5000) == 5000

    run(main())


def test_cancelled_upload_resumes_where_it_stopped(
    sandbox_url: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    admin, ingest = keys
    source = _ndjson(tmp_path / "items.ndjson", 6000)
    manifests = tmp_path / "manifests"

    async def main() -> None:
        client = ApiClient(sandbox_url, ingest)
        try:
            three = asyncio.Event()

            def progress(p: UploadProgress) -> None:
                if p.batches_done >= 3:
                    three.set()

            uploader = BulkUploader(
                client,
                FEED,
                source,
                manifest_dir=manifests,
                max_items=500,
                concurrency=2,
                on_progress=progress,
                manifest_every=1,
            )
            task = asyncio.create_task(uploader.run())
            await asyncio.wait_for(three.wait(), 30)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert uploader.manifest_path is not None
            kept = ManifestStore(manifests).load(client.base_url, FEED, uploader_source_id(source))
            assert kept is not None
            done = kept.counters.batches_done
            assert 3 <= done < 12
            exchanges = Exchanges(client)
            summary = await BulkUploader(client, FEED, source, manifest_dir=manifests).run()
        finally:
            await client.aclose()
        assert summary.batches_done == 12
        assert summary.items_sent == 6000
        assert exchanges.posts == 12 - done
        assert summary.duplicates <= 2  # at most the cancelled in-flight batches
        assert await _records(sandbox_url, admin, 6000) == 6000

    run(main())


def uploader_source_id(path: Path) -> str:
    from console.api.ingest_sources import content_sha256

    return content_sha256(path)


def test_items_the_server_refuses_are_listed_and_the_rest_sent(
    sandbox_url: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    """No local item key: the server's 400 names the items; the batch goes again without
    them under a derived key."""
    admin, ingest = keys
    lines = [
        json.dumps({"id": f"r{i}"} if i not in (3, 1500) else {"name": "no id"})
        for i in range(2000)
    ]
    source = tmp_path / "rows.ndjson"
    source.write_text("\n".join(lines) + "\n")

    async def main() -> None:
        client = ApiClient(sandbox_url, ingest)
        exchanges = Exchanges(client)
        try:
            summary = await BulkUploader(client, FEED, source, max_items=1000).run()
        finally:
            await client.aclose()
        assert [index for index, _ in summary.rejects.first] == [3, 1500]
        assert summary.rejects.first[1][1].startswith("[1500].id")
        assert list(summary.rejects) == summary.rejects.first  # streamed from its file
        summary.rejects.discard()
        assert summary.items_sent == 1998
        # Each batch is refused at most once, then sent without the item; a batch sent after
        # a 400 named the id field leaves its items without it out before sending.
        assert exchanges.posts in (3, 4)
        assert await _records(sandbox_url, admin, 1998) == 1998

    run(main())


def test_429_is_honoured_with_the_same_key_and_counted_once(
    make_sandbox: Callable[..., SandboxProcess], tmp_path: Path
) -> None:
    server = make_sandbox(demo=False, extra_args=["--ingest-burst", "2/1"])
    assert server.base_url is not None
    ingest = store_mint_key(server.data_dir, account="burst", kind="ingest", feed=FEED)
    admin = store_mint_key(server.data_dir, account="burst", kind="admin")
    source = _ndjson(tmp_path / "items.ndjson", 1200)

    async def main() -> None:
        # The client's own 429 retry is on (3): the uploader must not use it (R9).
        client = ApiClient(server.base_url or "", ingest, max_retries=3)
        exchanges = Exchanges(client)
        try:
            # Without the headroom wait (tested apart), 4 batches in flight on a burst of 2
            # meet 429s whatever the machine's speed.
            uploader = BulkUploader(
                client, FEED, source, max_items=100, concurrency=4, headroom=False
            )
            summary = await uploader.run()
        finally:
            await client.aclose()
        assert summary.batches_done == 12
        assert summary.items_sent == 1200
        assert summary.duplicates == 0
        assert exchanges.rate_limited > 0
        assert exchanges.transport_waits == 0
        assert summary.retries == exchanges.rate_limited
        assert exchanges.posts == 12 + exchanges.rate_limited
        assert await _records(server.base_url or "", admin, 1200) == 1200

    run(main())


def test_unreachable_server_stops_resumably_after_the_tries(tmp_path: Path) -> None:
    source = _ndjson(tmp_path / "items.ndjson", 10)
    manifests = tmp_path / "m"

    async def main() -> None:
        client = ApiClient("http://127.0.0.1:9", "ik_live_" + "x" * 32)
        try:
            uploader = BulkUploader(client, FEED, source, manifest_dir=manifests, max_tries=2)
            with pytest.raises(UploadIncomplete) as caught:
                await uploader.run()
        finally:
            await client.aclose()
        assert caught.value.error is not None
        assert caught.value.error.status == 0
        assert not caught.value.refused
        assert caught.value.manifest_path is not None
        assert caught.value.manifest_path.exists()

    run(main())


def test_rate_limit_headroom_waits_for_the_reset_instead_of_meeting_429s(
    make_sandbox: Callable[..., SandboxProcess], tmp_path: Path
) -> None:
    """Six requests per 2 s per IP: the uploader reads X-RateLimit-Remaining/Reset and waits
    out the window when it has no room beyond what is in flight."""
    server = make_sandbox(demo=False, rate_limit="6/2")
    assert server.base_url is not None
    ingest = store_mint_key(server.data_dir, account="window", kind="ingest", feed=FEED)
    source = _ndjson(tmp_path / "items.ndjson", 1400)

    async def main() -> None:
        client = ApiClient(server.base_url or "", ingest)
        exchanges = Exchanges(client)
        try:
            summary = await BulkUploader(client, FEED, source, max_items=100, concurrency=2).run()
        finally:
            await client.aclose()
        assert summary.batches_done == 14
        assert exchanges.rate_limited == 0
        assert exchanges.posts == 14

    run(main())


def test_a_late_answer_does_not_raise_the_remaining_count_of_its_window() -> None:
    """Concurrent answers arrive out of order; a stale higher count would let the uploader
    send into a full window."""
    state = RateLimitState()
    state.update({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "100"})
    state.update({"x-ratelimit-remaining": "1", "x-ratelimit-reset": "100"})
    assert state.remaining == 0
    state.update({"x-ratelimit-remaining": "5", "x-ratelimit-reset": "102"})
    assert (state.remaining, state.reset_at) == (5, 102.0)


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_json_array_and_csv_files_upload_every_item(
    sandbox_url: str, keys: tuple[str, str], tmp_path: Path, fmt: str
) -> None:
    admin, ingest = keys
    rows = [{"id": f"{fmt}-{i}", "note": f'] [ }} {{ "quoted" \n line {i}'} for i in range(1500)]
    source = tmp_path / f"items.{fmt}"
    if fmt == "json":
        source.write_text(json.dumps(rows, indent=2))
    else:
        import csv

        with source.open("w", newline="") as file:
            writer = csv.DictWriter(file, ["id", "note"])
            writer.writeheader()
            writer.writerows(rows)

    async def main() -> None:
        client = ApiClient(sandbox_url, ingest)
        try:
            summary = await BulkUploader(
                client, FEED, source, item_key="id", max_batch_bytes=40_000
            ).run()
        finally:
            await client.aclose()
        assert summary.items_sent == 1500
        assert summary.batches_done > 1
        assert summary.rejected_count == 0
        assert await _records(sandbox_url, admin, 1500) == 1500

    run(main())


def test_batches_over_the_body_cap_are_refused_up_front(tmp_path: Path) -> None:
    """A batch limit over the server's 1,048,576-byte cap would make every batch a 413, on
    every rerun too: the uploader refuses it before sending anything."""
    client = ApiClient("http://127.0.0.1:9", "ik_live_" + "x" * 32)
    source = tmp_path / "x.ndjson"
    source.write_text('{"id": 1}\n')
    with pytest.raises(ValueError, match="max_batch_bytes"):
        BulkUploader(client, FEED, source, max_batch_bytes=1_048_577)
    with pytest.raises(ValueError, match="max_items"):
        BulkUploader(client, FEED, source, max_items=10_001)


def test_fifty_thousand_rejected_items_keep_the_manifest_small_and_stream_each_once(
    sandbox_url: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    """Every other row of 100,000 lacks the id: the manifest, written after every batch,
    keeps a count and the first 100, while every rejected item is in the private sidecar,
    streamed from it exactly once."""
    import stat

    from console.api.upload_rejects import FIRST_REJECTS

    admin, ingest = keys
    count = 100_000
    source = tmp_path / "rows.ndjson"
    source.write_text(
        "".join(
            json.dumps({"id": f"r{n:06d}"} if n % 2 == 0 else {"name": f"n{n}"}) + "\n"
            for n in range(count)
        )
    )
    manifests = tmp_path / "manifests"
    largest = [0]
    sidecar_modes: set[int] = set()

    def watch(progress: UploadProgress) -> None:
        for path in manifests.glob("*.json"):
            largest[0] = max(largest[0], path.stat().st_size)
        for path in manifests.glob("*.rejects.ndjson"):
            sidecar_modes.add(stat.S_IMODE(path.stat().st_mode))

    async def main() -> None:
        client = ApiClient(sandbox_url, ingest)
        try:
            # No item key: the server's first 400 names the id field, then the rest of the
            # rows without it are left out locally.
            summary = await BulkUploader(
                client,
                FEED,
                source,
                manifest_dir=manifests,
                max_items=2000,
                manifest_every=1,
                on_progress=watch,
            ).run()
        finally:
            await client.aclose()
        rejects = summary.rejects
        bad = list(range(1, count, 2))
        assert summary.rejected_count == rejects.count == len(bad) == 50_000
        assert summary.items_sent == 50_000
        assert [index for index, _ in rejects.first] == bad[:FIRST_REJECTS]
        streamed = [index for index, _ in rejects]
        assert streamed == bad  # every one, once, by index (batches finish in any order)
        assert all(reason.startswith(f"[{i}].id") for i, reason in rejects.first)
        assert rejects.path is not None
        assert rejects.path.parent == manifests
        assert stat.S_IMODE(rejects.path.stat().st_mode) == 0o600
        assert list(manifests.glob("*.json")) == []  # the manifest went at the end
        rejects.discard()
        assert list(manifests.iterdir()) == []
        assert await _records(sandbox_url, admin, 50_000) == 50_000

    run(main())
    # 50,000 [index, reason] pairs would be ~2.5 MB rewritten after every batch.
    assert 0 < largest[0] < 16_000, largest[0]
    assert sidecar_modes == {0o600}


def _rows_every_third_without_id(path: Path, count: int) -> Path:
    path.write_text(
        "".join(
            json.dumps({"id": f"t{n:05d}"} if n % 3 else {"name": f"n{n}"}) + "\n"
            for n in range(count)
        )
    )
    return path


def test_a_resume_after_a_kill_keeps_each_rejected_item_exactly_once(
    sandbox_url: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    """The state a SIGKILL leaves: the sidecar holds the rejected items of batches the last
    manifest write does not record (and half a line); a resume drops those lines, sends the
    batches again, and ends with every rejected item once."""
    admin, ingest = keys
    source = _rows_every_third_without_id(tmp_path / "rows.ndjson", 6000)
    total = len(list(batches(source, "ndjson", max_items=500, item_key="id")))
    assert total == 8  # 500 items sent a batch, and the rows without id among them
    manifests = tmp_path / "manifests"
    snapshot: dict[str, bytes] = {}

    async def main() -> None:
        client = ApiClient(sandbox_url, ingest)
        try:
            six = asyncio.Event()

            def progress(p: UploadProgress) -> None:
                if p.batches_done == 3 and not snapshot:
                    [manifest] = manifests.glob("*.json")  # written after every batch
                    snapshot["manifest"] = manifest.read_bytes()
                if p.batches_done >= 6:
                    six.set()

            uploader = BulkUploader(
                client,
                FEED,
                source,
                item_key="id",
                manifest_dir=manifests,
                max_items=500,
                concurrency=1,
                manifest_every=1,
                on_progress=progress,
            )
            task = asyncio.create_task(uploader.run())
            await asyncio.wait_for(six.wait(), 30)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # As if killed after batch 6's lines were appended but before the manifest
            # recorded batches 4 to 6, in the middle of appending a line.
            manifest_path = uploader.manifest_path
            assert manifest_path is not None
            manifest_path.write_bytes(snapshot["manifest"])
            [sidecar] = manifests.glob("*.rejects.ndjson")
            counted = json.loads(snapshot["manifest"])["rejected_count"]
            assert sidecar.read_bytes().count(b"\n") > counted > 0
            with sidecar.open("ab") as tail:
                tail.write(b'{"item": 3999, "rea')
            exchanges = Exchanges(client)
            summary = await BulkUploader(
                client, FEED, source, item_key="id", manifest_dir=manifests, max_items=500
            ).run()
        finally:
            await client.aclose()
        assert exchanges.posts == total - 3  # batches 4 to 6 again (answered as replays)
        assert summary.duplicates >= 3
        bad = list(range(0, 6000, 3))
        streamed = [index for index, _ in summary.rejects]
        assert streamed == bad  # by index, though run 1's batches 4 to 6 were dropped
        assert summary.rejected_count == len(bad)
        summary.rejects.discard()
        assert await _records(sandbox_url, admin, 4000) == 4000

    run(main())


def test_a_manifest_of_the_previous_version_resumes_with_its_rejected_items(
    sandbox_url: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    """A version 1 manifest (every rejected item listed in it) is migrated to the sidecar
    when loaded, and the upload resumes from it: its items, then the rest, each once."""
    from console.api.ingest_sources import content_sha256
    from console.api.upload_rejects import sidecar_for

    _, ingest = keys
    source = _rows_every_third_without_id(tmp_path / "rows.ndjson", 4500)
    cut = list(batches(source, "ndjson", max_items=1000, item_key="id"))
    manifests = tmp_path / "manifests"
    store = ManifestStore(manifests)
    assert len(cut) == 3  # 1,000 items sent a batch
    old_reasons = [[n, f"[{n}].id: said by the earlier version"] for n, _ in cut[0].rejected]

    async def main() -> None:
        client = ApiClient(sandbox_url, ingest)
        try:
            manifest_path = store.path_for(client.base_url, FEED, content_sha256(source))
            manifests.mkdir(mode=0o700)
            # What version 1 wrote after the first batch (its keys, as `asdict` gave them).
            version_1 = {
                "url": client.base_url,
                "feed": FEED,
                "source_id": content_sha256(source),
                "path": str(source.resolve()),
                "size": source.stat().st_size,
                "mtime_ns": source.stat().st_mtime_ns,
                "format": "ndjson",
                "item_key": "id",
                "max_batch_bytes": 1_000_000,
                "max_items": 1000,
                "done": [[cut[0].start, cut[0].end]],
                "done_keys": [],
                "rejected": old_reasons,
                "counters": {
                    "items_sent": 1000,
                    "duplicates": 0,
                    "duplicate_items": 0,
                    "retries": 0,
                    "batches_retried": 0,
                    "batches_done": 1,
                    "bytes_done": 0,
                },
                "created_at": 1.0,
                "updated_at": 2.0,
                "version": 1,
            }
            manifest_path.write_text(json.dumps(version_1))
            manifest_path.chmod(0o600)
            exchanges = Exchanges(client)
            summary = await BulkUploader(
                client, FEED, source, item_key="id", manifest_dir=manifests, max_items=5000
            ).run()
        finally:
            await client.aclose()
        assert exchanges.posts == 2  # the first batch is not sent again
        assert summary.batches_done == 3
        assert summary.items_sent == 3000
        streamed = list(summary.rejects)
        assert [index for index, _ in streamed] == list(range(0, 4500, 3))
        assert [list(entry) for entry in streamed[: len(old_reasons)]] == old_reasons
        assert summary.rejected_count == summary.rejects.count == 1500
        assert summary.rejects.first == [tuple(entry) for entry in old_reasons[:100]]
        assert not manifest_path.exists()
        assert not sidecar_for(manifest_path).exists()  # handed over under its own name
        summary.rejects.discard()
        assert list(manifests.iterdir()) == []

    run(main())


def test_loading_a_version_1_manifest_moves_its_list_to_the_sidecar(tmp_path: Path) -> None:
    store = ManifestStore(tmp_path / "uploads")
    manifest = Manifest(url="http://h", feed="f", source_id="ab" * 32)
    body = manifest.to_json() | {"version": 1, "rejected": [[7, "seven"], [2, "two"]]}
    for key in ("rejected_count", "rejected_first", "rejects_bytes"):
        del body[key]
    path = store.path_for("http://h", "f", "ab" * 32)
    path.parent.mkdir(mode=0o700)
    path.write_text(json.dumps(body))
    loaded = store.load("http://h", "f", "ab" * 32)
    assert loaded is not None
    assert (loaded.rejected_count, loaded.rejected_first) == (2, [[2, "two"], [7, "seven"]])
    on_disk = json.loads(path.read_text())
    assert on_disk["version"] == 2
    assert "rejected" not in on_disk
    sidecar = store.rejects_path_for("http://h", "f", "ab" * 32)
    assert on_disk["rejects_bytes"] == sidecar.stat().st_size
    assert sidecar.stat().st_mode & 0o777 == 0o600
    lines = [json.loads(line) for line in sidecar.read_text().splitlines()]
    assert lines == [{"item": 7, "reason": "seven"}, {"item": 2, "reason": "two"}]


MISSING_ID = "[{}].id is missing: every record carries the feed's id field."


def _every_hundredth_without_id(path: Path, count: int) -> Path:
    lines = (
        json.dumps({"name": "no id"} if i % 100 == 7 else {"id": f"r{i}"}) for i in range(count)
    )
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_the_expected_key_leaves_bad_items_out_before_sending_in_the_servers_words(
    sandbox_url: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    """Walking the build, the dialog knew the feed's id field but let the server refuse the
    first batches with 400 (red "rejected" log entries), then sent them again."""
    admin, ingest = keys
    source = _every_hundredth_without_id(tmp_path / "rows.ndjson", 2000)

    async def main() -> None:
        client = ApiClient(sandbox_url, ingest)
        exchanges = Exchanges(client)
        try:
            uploader = BulkUploader(
                client, FEED, source, max_items=500, concurrency=4, expected_key="id"
            )
            summary = await uploader.run()
        finally:
            await client.aclose()
        assert (exchanges.posts, exchanges.refused) == (4, 0)  # one request a batch, no 400
        assert summary.rejects.first == [(n, MISSING_ID.format(n)) for n in range(7, 2000, 100)]
        summary.rejects.discard()
        assert await _records(sandbox_url, admin, 1980) == 1980

    run(main())


def test_the_key_a_400_named_is_kept_for_the_resume_and_reasons_read_alike(
    sandbox_url: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    """Walking the build, every resume learnt the id field again from fresh 400s."""
    admin, ingest = keys
    source = _every_hundredth_without_id(tmp_path / "rows.ndjson", 2000)
    manifests = tmp_path / "manifests"

    async def main() -> None:
        client = ApiClient(sandbox_url, ingest)
        try:
            two = asyncio.Event()

            def progress(p: UploadProgress) -> None:
                if p.batches_done >= 2:
                    two.set()

            first = Exchanges(client)
            uploader = BulkUploader(
                client,
                FEED,
                source,
                manifest_dir=manifests,
                max_items=100,
                concurrency=1,
                on_progress=progress,
                manifest_every=1,
            )
            task = asyncio.create_task(uploader.run())
            await asyncio.wait_for(two.wait(), 30)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert first.refused == 1  # the first batch: then the key is known
            kept = ManifestStore(manifests).load(client.base_url, FEED, uploader_source_id(source))
            assert kept is not None
            assert kept.expected_key == "id"
            done = kept.counters.batches_done
            again = Exchanges(client)
            summary = await BulkUploader(client, FEED, source, manifest_dir=manifests).run()
        finally:
            await client.aclose()
        assert again.refused == 0
        assert again.posts == 20 - done
        # The item the server refused and those left out here read the same.
        assert list(summary.rejects) == [(n, MISSING_ID.format(n)) for n in range(7, 2000, 100)]
        summary.rejects.discard()
        assert await _records(sandbox_url, admin, 1980) == 1980

    run(main())
