"""BulkUploader's `server_id` (a manifest found again when the server's URL changed), the
store's list of unfinished uploads per server, and the ids that find an upload in the logs."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from console.api.ingest import BulkUploader, UploadIncomplete, UploadProgress
from console.api.logs import LogsApi
from console.api.records import RecordQuery, RecordsApi
from console.api.transport import ApiClient
from console.api.upload_manifest import ManifestStore
from tests.conftest import run

FEED = "bulkid"
SERVER = "sandbox:/data/of/the/sandbox"
UNREACHABLE = "http://127.0.0.1:9"  # nothing listens on the discard port


def _ndjson(path: Path, count: int) -> Path:
    path.write_text("".join(json.dumps({"id": f"it-{i}", "n": i}) + "\n" for i in range(count)))
    return path


@pytest.fixture
def admin(mint_key: Callable[..., str], account: str) -> str:
    """An admin key of a fresh account whose feed FEED exists (id field `id`)."""
    mint_key(account, "ingest", FEED)
    return mint_key(account, "admin")


async def _record_ids(client: ApiClient, expected: int) -> list[str]:
    """The feed's records' system ids, once there are `expected` of them (30 s at most)."""
    api = RecordsApi(client)
    ids: list[str] = []
    for _ in range(300):
        ids = [
            str(record.system_id)
            async for page in api.iterate(FEED, RecordQuery(deleted="all"))
            for record in page.items
        ]
        if len(ids) >= expected:
            return ids
        await asyncio.sleep(0.1)
    return ids


def test_a_manifest_kept_under_a_server_id_is_listed_and_resumed_on_another_url(
    sandbox_url: str, admin: str, tmp_path: Path
) -> None:
    source = _ndjson(tmp_path / "items.ndjson", 3000)
    store = ManifestStore(tmp_path / "uploads")

    async def main() -> None:
        # A first run that cannot reach its server (the sandbox's old port): kept.
        gone = ApiClient(UNREACHABLE, admin)
        try:
            with pytest.raises(UploadIncomplete):
                await BulkUploader(
                    gone,
                    FEED,
                    source,
                    manifest_dir=store.directory,
                    max_items=500,
                    max_tries=1,
                    server_id=SERVER,
                ).run()
        finally:
            await gone.aclose()
        (pending,) = store.pending(SERVER)
        assert store.pending(UNREACHABLE) == []  # named by its identity, not its URL
        assert (pending.feed, pending.path, pending.size) == (
            FEED,
            source.resolve(),
            source.stat().st_size,
        )
        assert (pending.bytes_done, pending.items_sent) == (0, 0)
        assert pending.manifest_path.stat().st_mode & 0o777 == 0o600
        assert pending.file_state() == "unchanged"

        # The same server on a new port: found again under its identity and finished.
        client = ApiClient(sandbox_url, admin)
        seen: list[UploadProgress] = []
        try:
            uploader = BulkUploader(
                client,
                FEED,
                source,
                manifest_dir=store.directory,
                max_items=9999,
                server_id=SERVER,
                on_progress=seen.append,
            )
            summary = await uploader.run()
            assert summary.batches_done == 6  # the manifest's cut (500 items), not 9999
            assert summary.items_sent == 3000
            assert len(summary.request_ids) == len(summary.correlation_ids) == 6
            assert all(rid.startswith("req_") for rid in summary.request_ids)
            ids = await _record_ids(client, 3000)
            assert uploader.key_prefix is not None
            entries = await LogsApi(client).query(limit=100, q=uploader.key_prefix)
            by_request = await LogsApi(client).query(limit=10, id=summary.request_ids[0])
        finally:
            await client.aclose()
        assert sorted(ids) == sorted(f"it-{i}" for i in range(3000))
        # Every batch is found in the logs by the upload's key prefix, and each by its ids.
        assert {entry.request_id for entry in entries.items} == set(summary.request_ids)
        assert [e.correlation_id for e in by_request.items] == summary.correlation_ids[:1]
        assert store.pending(SERVER) == []
        assert not list(store.directory.glob("*.json"))

    run(main())


def test_pending_skips_damaged_and_foreign_files_and_tells_changed_files(
    admin: str, tmp_path: Path
) -> None:
    store = ManifestStore(tmp_path / "uploads")
    first = _ndjson(tmp_path / "a.ndjson", 10)
    second = _ndjson(tmp_path / "b.ndjson", 20)
    third = _ndjson(tmp_path / "c.ndjson", 30)

    async def keep(path: Path, server: str) -> None:
        client = ApiClient(UNREACHABLE, admin)
        try:
            with pytest.raises(UploadIncomplete):
                await BulkUploader(
                    client, FEED, path, manifest_dir=store.directory, max_tries=1, server_id=server
                ).run()
        finally:
            await client.aclose()

    for path in (first, second, third):
        run(keep(path, SERVER))
    run(keep(first, "https://elsewhere.example"))
    (store.directory / "damaged.json").write_text("{not json")
    (store.directory / "other.json").write_text(json.dumps({"version": 1, "url": SERVER}))
    names = sorted(p.path.name for p in store.pending(SERVER))
    assert names == ["a.ndjson", "b.ndjson", "c.ndjson"]
    assert [p.path.name for p in store.pending("https://elsewhere.example")] == ["a.ndjson"]

    by_name = {p.path.name: p for p in store.pending(SERVER)}
    # Touched but the same bytes: still the upload's file.
    os.utime(first, ns=(1, 1))
    assert by_name["a.ndjson"].file_state() == "unchanged"
    second.write_text(second.read_text().replace("it-1", "it-X"))  # same size, other bytes
    assert by_name["b.ndjson"].file_state() == "changed"
    third.unlink()
    assert by_name["c.ndjson"].file_state() == "missing"

    store.discard(by_name["b.ndjson"])
    assert sorted(p.path.name for p in store.pending(SERVER)) == ["a.ndjson", "c.ndjson"]


def test_server_id_is_checked_and_defaults_to_the_base_url(tmp_path: Path) -> None:
    client = ApiClient(UNREACHABLE, "x" * 40)
    source = _ndjson(tmp_path / "a.ndjson", 1)
    with pytest.raises(ValueError, match="server_id"):
        BulkUploader(client, FEED, source, server_id="")
    assert BulkUploader(client, FEED, source).server_id == UNREACHABLE
    run(client.aclose())


def test_pending_skips_a_deeply_nested_file_instead_of_failing(tmp_path: Path) -> None:
    store = ManifestStore(tmp_path / "uploads")
    store.directory.mkdir()
    (store.directory / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert store.pending(SERVER) == []
