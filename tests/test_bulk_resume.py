"""A bulk upload of 200,000 records killed halfway (SIGKILL of the client) and run again
ends with exactly 200,000 records, and the log shows the re-sent batches as `duplicate`:
through the command line and through the API layer's BulkUploader."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import database_path, mint_key

ITEMS = 200_000
FEED = "bulk"
# Every line has the same length, so a manifest's byte ranges convert to items exactly.
LINE = '{{"id":"r{n:07d}","n":"{n:07d}","city":"Lisbon","status":"paid","total":"0042.00"}}\n'
LINE_BYTES = len(LINE.format(n=0).encode())
# A few batches a second (the uploader waits out the 429s), so the kill lands mid-upload.
BURST = "8/1"

API_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from console.api.ingest import BulkUploader
    from console.api.transport import ApiClient

    async def main() -> int:
        url, key, feed, path, manifests = sys.argv[1:6]
        client = ApiClient(url, key, max_retries=0)
        try:
            uploader = BulkUploader(
                client, feed, Path(path), format="ndjson", concurrency=4,
                manifest_dir=Path(manifests),
            )
            summary = await uploader.run()
        finally:
            await client.aclose()
        print(summary, flush=True)
        summary.rejects.discard()
        return 1 if summary.rejected_count else 0

    sys.exit(asyncio.run(main()))
    """
)


def eventually(condition: Callable[[], bool], timeout: float) -> None:
    """Poll `condition` until it holds, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.02)


def query(data_dir: Path, sql: str, *parameters: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(database_path(data_dir), timeout=10)
    try:
        return conn.execute(sql, parameters).fetchall()
    finally:
        conn.close()


def write_ndjson(path: Path) -> None:
    """200,000 fixed-length lines (~17 MB), in well under a second."""
    with path.open("w", encoding="utf-8") as out:
        out.write("".join(LINE.format(n=n) for n in range(ITEMS)))


def manifest_items(state: Path) -> int | None:
    """Items the upload's manifest records as done (None: no manifest readable now)."""
    for manifest in state.rglob("*.json"):
        try:
            done = json.loads(manifest.read_text(encoding="utf-8"))["done"]
        except (OSError, ValueError, KeyError):
            continue
        return sum(end - start for start, end in done) // LINE_BYTES
    return None


def accepted_items(data_dir: Path, account: str) -> int:
    """Items the server has accepted (queued or applied) for the account so far."""
    return int(
        query(
            data_dir,
            "SELECT coalesce(sum(i.items_received), 0) FROM intents i"
            " JOIN accounts a ON a.id = i.account_id WHERE a.name = ?",
            account,
        )[0][0]
    )


@pytest.fixture
def bulk_server(make_sandbox: Callable[..., SandboxProcess]) -> SandboxProcess:
    return make_sandbox(demo=False, extra_args=["--ingest-burst", BURST])


def _command(kind: str, server: SandboxProcess, key: str, data: Path, state: Path) -> list[str]:
    if kind == "cli":
        return [
            sys.executable,
            "-m",
            "console",
            "ingest",
            "--url",
            str(server.base_url),
            "--feed",
            FEED,
            str(data),
        ]
    return [
        sys.executable,
        "-c",
        API_SCRIPT,
        str(server.base_url),
        key,
        FEED,
        str(data),
        str(state),
    ]


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
@pytest.mark.parametrize("kind", ["cli", "api"])
def test_a_killed_upload_resumes_to_exactly_all_records(
    kind: str, bulk_server: SandboxProcess, tmp_path: Path
) -> None:
    server = bulk_server
    account = f"bulk-{kind}"
    key = mint_key(server.data_dir, account=account, kind="ingest", feed=FEED)
    data = tmp_path / "records.ndjson"
    started = time.perf_counter()
    write_ndjson(data)
    assert time.perf_counter() - started < 5
    assert data.stat().st_size == ITEMS * LINE_BYTES
    state = tmp_path / "state"
    env = {
        **os.environ,
        "INTEGRATION_CONSOLE_INGEST_KEY": key,
        "INTEGRATION_CONSOLE_MANIFEST_EVERY": "5",
        "XDG_STATE_HOME": str(state),
    }
    argv = _command(kind, server, key, data, state)

    output = tmp_path / "first-run.txt"
    with output.open("w") as sink:
        first = subprocess.Popen(argv, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        # Kill once the manifest shows >= 40% and the server has accepted batches the
        # manifest does not record yet (those are re-sent, and answered as replays).
        def halfway() -> bool:
            if first.poll() is not None:
                pytest.fail(f"the upload ended before the kill: {output.read_text()[-3000:]}")
            done = manifest_items(state)
            return (
                done is not None
                and done >= 0.4 * ITEMS
                and accepted_items(server.data_dir, account) > done
            )

        eventually(halfway, 120)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    done_at_kill = manifest_items(state)
    assert done_at_kill is not None
    assert done_at_kill < ITEMS

    second = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=240)
    assert second.returncode == 0, (second.stdout, second.stderr[-3000:])
    if kind == "cli":
        summary = second.stdout.strip().splitlines()[-1]
        assert summary.startswith("ingest: "), summary
        assert "duplicate" in summary
    assert manifest_items(state) is None  # removed once the upload is complete

    def drained() -> bool:
        return (
            query(
                server.data_dir,
                "SELECT count(*) FROM intents i JOIN accounts a ON a.id = i.account_id"
                " WHERE a.name = ? AND i.status IN ('queued', 'processing')",
                account,
            )[0][0]
            == 0
        )

    eventually(drained, 120)
    (record_count,) = query(
        server.data_dir,
        "SELECT f.record_count FROM feeds f JOIN accounts a ON a.id = f.account_id"
        " WHERE a.name = ? AND f.slug = ?",
        account,
        FEED,
    )[0]
    assert record_count == ITEMS
    distinct = query(
        server.data_dir,
        "SELECT count(DISTINCT r.system_id), count(*) FROM records r"
        " JOIN feeds f ON f.seq = r.feed_seq JOIN accounts a ON a.id = f.account_id"
        " WHERE a.name = ?",
        account,
    )[0]
    assert distinct == (ITEMS, ITEMS)

    entries = query(
        server.data_dir,
        "SELECT l.id, l.idempotency_key, l.processing_status, l.items_received, l.http_status"
        " FROM logs l JOIN accounts a ON a.id = l.account_id"
        " WHERE a.name = ? AND l.intent = 'ingest' ORDER BY l.id",
        account,
    )
    accepted: dict[str, int] = {}
    accepted_total = 0
    duplicates = []
    for log_id, idempotency_key, status, items, http_status in entries:
        if http_status != 202:
            continue  # a 429 the uploader waited out
        assert idempotency_key, "every uploader batch has an Idempotency-Key"
        if status == "duplicate":
            duplicates.append((log_id, idempotency_key))
        else:
            assert idempotency_key not in accepted, "a batch was accepted twice"
            accepted[idempotency_key] = log_id
            accepted_total += items
    assert duplicates, "the re-sent batches are logged as duplicate"
    for log_id, idempotency_key in duplicates:
        assert accepted[idempotency_key] < log_id
    assert accepted_total == ITEMS


REJECT_ITEMS = 200_000  # every 4th row has no id: 50,000 rejected items


def _uploads(state: Path) -> Path:
    return state / "integration-console" / "uploads"


def _sidecar_ahead(state: Path) -> tuple[int, int] | None:
    """(lines in the sidecar, rejected items the manifest counts) when the sidecar holds
    lines the manifest does not count yet (the state a kill must be able to survive)."""
    manifests = list(_uploads(state).glob("*.json"))
    sidecars = list(_uploads(state).glob("*.rejects.ndjson"))
    if len(manifests) != 1 or len(sidecars) != 1:
        return None
    try:
        counted = int(json.loads(manifests[0].read_bytes())["rejected_count"])
        lines = sidecars[0].read_bytes().count(b"\n")
    except (OSError, ValueError, KeyError):
        return None
    return (lines, counted) if lines > counted else None


def _kill_when_sidecar_ahead(
    argv: list[str], env: dict[str, str], state: Path, output: Path
) -> int:
    """Run the upload and SIGKILL it once the sidecar is ahead of the manifest; returns the
    largest manifest seen meanwhile (bytes)."""
    largest = 0
    with output.open("w") as sink:
        child = subprocess.Popen(argv, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:

        def ahead() -> bool:
            nonlocal largest
            if child.poll() is not None:
                pytest.fail(f"the upload ended before the kill: {output.read_text()[-3000:]}")
            for manifest in _uploads(state).glob("*.json"):
                with contextlib.suppress(OSError):
                    largest = max(largest, manifest.stat().st_size)
            return _sidecar_ahead(state) is not None

        eventually(ahead, 120)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    return largest


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_killed_uploads_with_50000_rejected_items_list_each_once_in_a_small_manifest(
    bulk_server: SandboxProcess, tmp_path: Path
) -> None:
    """Killed while the sidecar holds rejected items the manifest does not count yet, and
    run again: --rejects lists each of the 50,000 rejected items once, and the manifest
    stayed a few KB all along (it keeps a count and the first 100)."""
    server = bulk_server
    key = mint_key(server.data_dir, account="bulk-rejects", kind="ingest", feed=FEED)
    data = tmp_path / "rows.ndjson"
    with data.open("w", encoding="utf-8") as out:
        out.write(
            "".join(
                f'{{"id":"r{n:07d}"}}\n' if n % 4 else f'{{"sku":"s{n:07d}"}}\n'
                for n in range(REJECT_ITEMS)
            )
        )
    bad = list(range(0, REJECT_ITEMS, 4))
    state = tmp_path / "state"
    rejects = tmp_path / "rejects.ndjson"
    env = {
        **os.environ,
        "INTEGRATION_CONSOLE_INGEST_KEY": key,
        "INTEGRATION_CONSOLE_MANIFEST_EVERY": "3",
        "XDG_STATE_HOME": str(state),
    }
    argv = [
        *_command("cli", server, key, data, state)[:-1],
        "--item-key",
        "id",
        "--rejects",
        str(rejects),
        str(data),
    ]
    largest = 0
    ahead_at_kill: tuple[int, int] | None = None
    for _attempt in range(3):  # a kill can land just after a manifest write: kill again
        largest = max(largest, _kill_when_sidecar_ahead(argv, env, state, tmp_path / "run.txt"))
        ahead_at_kill = _sidecar_ahead(state)
        if ahead_at_kill is not None:
            break
    assert ahead_at_kill is not None, "no kill left the sidecar ahead of the manifest"
    assert not rejects.exists()

    final = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=240)
    assert final.returncode == 1, (final.stdout, final.stderr[-3000:])  # 1: items rejected
    assert "150000 items sent" in final.stdout
    assert ", 50000 rejected," in final.stdout
    listed = [line for line in final.stderr.splitlines() if line.startswith("item ")]
    assert [int(line.split()[1].rstrip(":")) for line in listed] == bad[:20]
    reasons = rejects.with_name("rejects.reasons.ndjson")
    written = [json.loads(line)["item"] for line in reasons.read_text("utf-8").splitlines()]
    assert written == bad  # each once, by index, over the killed runs and the last one
    items = [json.loads(line)["sku"] for line in rejects.read_text("utf-8").splitlines()]
    assert items == [f"s{n:07d}" for n in bad]  # the items themselves
    assert rejects.stat().st_mode & 0o777 == 0o600
    assert list(_uploads(state).iterdir()) == []  # manifest and sidecar gone
    # 50,000 [index, reason] pairs in the manifest would be ~3 MB.
    assert 0 < largest < 16_000, largest
