"""The bulk uploader's progress manifest: atomic private writes, merging, changed files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.api.ingest import BulkUploader, UploadIncomplete
from console.api.transport import ApiClient
from console.api.upload_manifest import Manifest, ManifestStore, default_manifest_dir
from tests.conftest import run


def test_saved_manifest_is_private_and_reads_back(tmp_path: Path) -> None:
    store = ManifestStore(tmp_path / "uploads")
    manifest = Manifest(url="http://h", feed="f", source_id="ab" * 32, max_batch_bytes=10)
    for start, end in [(20, 30), (0, 10), (10, 20), (40, 50)]:
        manifest.mark_done(start, end)
    assert manifest.done == [[0, 30], [40, 50]]
    assert manifest.is_done(10, 20)
    assert not manifest.is_done(30, 40)
    manifest.rejected_count, manifest.rejected_first = 1, [[3, "why"]]
    manifest.counters.items_sent = 7
    path = store.save(manifest)
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "uploads").stat().st_mode & 0o777 == 0o700
    assert [p.name for p in (tmp_path / "uploads").iterdir()] == [path.name]  # no temp left
    loaded = store.load("http://h", "f", "ab" * 32)
    assert loaded is not None
    assert (loaded.done, loaded.rejected_first, loaded.counters.items_sent) == (
        [[0, 30], [40, 50]],
        [[3, "why"]],
        7,
    )
    assert store.load("http://other", "f", "ab" * 32) is None
    path.write_text("{not json")
    assert store.load("http://h", "f", "ab" * 32) is None  # damaged: start again
    store.remove(manifest)
    assert not path.exists()


def test_default_dir_follows_xdg_state_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_manifest_dir() == tmp_path / "integration-console" / "uploads"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_manifest_dir() == Path.home() / ".local/state/integration-console/uploads"


def test_a_changed_file_gets_a_new_manifest_and_the_old_one_goes(tmp_path: Path) -> None:
    source = tmp_path / "items.ndjson"
    source.write_text('{"id": 1}\n')
    manifests = tmp_path / "m"

    async def attempt() -> Path:
        client = ApiClient("http://127.0.0.1:9", "ik_live_" + "z" * 32)
        try:
            with pytest.raises(UploadIncomplete) as caught:
                await BulkUploader(client, "f", source, manifest_dir=manifests, max_tries=1).run()
        finally:
            await client.aclose()
        assert caught.value.manifest_path is not None
        return caught.value.manifest_path

    first = run(attempt())
    assert json.loads(first.read_text())["path"] == str(source.resolve())
    assert run(attempt()) == first  # same content: same manifest
    source.write_text('{"id": 2}\n')
    second = run(attempt())
    assert second != first
    assert sorted(manifests.glob("*.json")) == [second]
