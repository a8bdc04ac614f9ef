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


def test_forgetting_an_upload_removes_its_rejected_items_too(tmp_path: Path) -> None:
    """Discard (the resume bar), a changed file's stale manifest, and handed-over files
    left behind by a killed process (after a week) take their sidecars with them."""
    import os
    import time

    from console.api.upload_manifest import PendingUpload
    from console.api.upload_rejects import HANDED_OVER_SUFFIX, RejectsFile, sweep_handed_over

    store = ManifestStore(tmp_path / "uploads")
    kept, stale = (
        Manifest(url="http://h", feed="f", source_id=c * 64, path="/data/x.ndjson") for c in "ab"
    )
    for manifest in (kept, stale):
        RejectsFile(store.rejects_path_for(manifest.url, manifest.feed, manifest.source_id)).append(
            [(1, "why")]
        )
        store.save(manifest)
    store.remove_stale(
        "http://h", "f", "/data/x.ndjson", keep=store.path_for("http://h", "f", "a" * 64).stem
    )
    assert not store.rejects_path_for("http://h", "f", "b" * 64).exists()
    kept_sidecar = store.rejects_path_for("http://h", "f", "a" * 64)
    assert kept_sidecar.exists()
    store.discard(PendingUpload(store.path_for("http://h", "f", "a" * 64), kept))
    assert list(store.directory.iterdir()) == []

    old, young = (store.directory / f"{name}{HANDED_OVER_SUFFIX}" for name in ("old", "young"))
    for path in (old, young):
        path.write_text('{"item": 1, "reason": "why"}\n')
    week = 8 * 24 * 3600
    os.utime(old, (time.time() - week, time.time() - week))
    sweep_handed_over(store.directory)
    assert list(store.directory.iterdir()) == [young]


def test_reasons_are_capped_and_a_resume_cuts_back_to_what_the_manifest_counts(
    tmp_path: Path,
) -> None:
    from console.api.upload_rejects import MAX_REASON_CHARS, RejectsFile

    sidecar = RejectsFile(tmp_path / "x.rejects.ndjson")
    sidecar.append([(0, "x" * 50_000)])
    [line] = (tmp_path / "x.rejects.ndjson").read_text("utf-8").splitlines()
    reason = json.loads(line)["reason"]
    assert len(reason) == MAX_REASON_CHARS
    assert reason.endswith("…")
    sidecar.close()
    assert sidecar.keep(len(line) + 1)
    assert not sidecar.keep(len(line) + 2)  # the manifest counts more than the file holds
    assert sidecar.keep(0)
    assert not (tmp_path / "x.rejects.ndjson").exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_after_a_failed_append_nothing_more_is_appended() -> None:
    """A half-written line must not be followed by more lines (the manifest's byte count
    would no longer end on a line): the batch fails, and so does every later append."""
    import errno

    from console.api.upload_rejects import RejectsFile

    full = RejectsFile(Path("/dev/full"))  # every write: ENOSPC, a real full disk
    with pytest.raises(OSError, match="No space left") as caught:
        full.append([(1, "why")])
    assert caught.value.errno == errno.ENOSPC
    with pytest.raises(OSError, match="an earlier write of the rejected items failed"):
        full.append([(2, "why")])
    full.close()


def test_rejected_items_stream_by_index_whatever_order_their_batches_finished(
    tmp_path: Path,
) -> None:
    """Batches (disjoint ranges of items) finish out of order, over several runs: the file
    holds sorted runs in any order, overlapping where consecutive batches finished in order
    around a late one; reading merges them by index."""
    from console.api.upload_rejects import RejectsFile

    sidecar = RejectsFile(tmp_path / "u.rejects.ndjson")
    batches_finished = [
        [(0, "a"), (3, "b")],  # items 0-9
        [(21, "e"), (25, "f")],  # items 20-29: before 10-19, one rising run with 0-9
        [(12, "c"), (18, "d")],  # items 10-19, late
        [(40, "h")],
        [(30, "g"), (31, "g2")],
        [(5000, "z")],
    ]
    for entries in batches_finished:
        sidecar.append(entries)
    count = sum(len(entries) for entries in batches_finished)
    rejects = sidecar.hand_over(count, [])
    expected = sorted(entry for entries in batches_finished for entry in entries)
    assert list(rejects) == expected
    target = tmp_path / "out.ndjson"
    assert rejects.copy_to(target) == count
    lines = [json.loads(line) for line in target.read_text("utf-8").splitlines()]
    assert [(line["item"], line["reason"]) for line in lines] == expected
    rejects.discard()
    assert rejects.path is not None
    assert not rejects.path.exists()
