"""Start, stop, force stop and archive, and the simulated syncs, on servers with fast clocks."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import mint_key
from tests.sandbox.pipeline_support import (
    PIPELINES,
    catalog_of,
    create_pipeline,
    definition,
    event_times,
    events_of,
)

Waiter = Callable[..., None]


def timed_sandbox(data_dir: Path, *flags: str) -> SandboxProcess:
    """A started server with its own pipeline time settings."""
    server = SandboxProcess(data_dir, demo=False, extra_args=list(flags))
    server.start()
    return server


@pytest.fixture(scope="module")
def long_syncs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """A server whose syncs last 60 s: long enough to catch one with a graceful stop."""
    server = timed_sandbox(
        tmp_path_factory.mktemp("long-syncs"),
        *("--deploy-seconds", "0.1", "--sync-seconds", "60", "--pipeline-minute-seconds", "1"),
    )
    yield server
    assert server.stop() == 0


@pytest.fixture(scope="module")
def quick_syncs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """A server whose schedule minute lasts 0.02 s and whose syncs take 0.1 s."""
    server = timed_sandbox(
        tmp_path_factory.mktemp("quick-syncs"),
        *("--deploy-seconds", "0.05", "--sync-seconds", "0.1", "--pipeline-minute-seconds", "0.02"),
    )
    yield server
    assert server.stop() == 0


def client_of(server: SandboxProcess, account: str) -> httpx.Client:
    """An admin client of a fresh account on `server`."""
    return client_at(str(server.base_url), server.data_dir, account)


def client_at(base_url: str, data_dir: Path, account: str) -> httpx.Client:
    """An admin client of a fresh account on the server at `base_url` serving `data_dir`."""
    key = mint_key(data_dir, account=account)
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10)


def metadata(api: httpx.Client, pipeline_id: int) -> dict[str, Any]:
    """GET /pipelines/{id}."""
    response = api.get(f"{PIPELINES}/{pipeline_id}")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def syncing(meta: dict[str, Any]) -> bool:
    """Whether a sync runs now: it started after the last one finished."""
    started, finished = meta["last_sync_started_at"], meta["last_sync_finished_at"]
    return started is not None and (finished is None or finished < started)


def started_pipeline(api: httpx.Client, eventually: Waiter, **kwargs: Any) -> int:
    """Create and start a pipeline, then wait until its first sync runs."""
    pipeline_id = int(create_pipeline(api, definition(catalog_of(api), **kwargs))["id"])
    response = api.post(f"{PIPELINES}/{pipeline_id}/start")
    assert response.status_code == 200
    assert response.json()["status"] == "deploying"
    eventually(lambda: metadata(api, pipeline_id)["status"] != "deploying", 10)
    return pipeline_id


def test_a_graceful_stop_during_a_sync_is_409_and_force_stops_it(
    long_syncs: SandboxProcess, account: str, eventually: Waiter
) -> None:
    with client_of(long_syncs, account) as api:
        pipeline_id = started_pipeline(api, eventually)
        meta = metadata(api, pipeline_id)
        assert meta["status"] == "running"
        assert syncing(meta)

        assert api.post(f"{PIPELINES}/{pipeline_id}/start").json()["status"] == "running"
        graceful = api.post(f"{PIPELINES}/{pipeline_id}/stop")
        assert graceful.status_code == 409
        assert graceful.json()["error"]["code"] == "SYNC_IN_PROGRESS"
        assert metadata(api, pipeline_id)["status"] == "running"

        forced = api.post(f"{PIPELINES}/{pipeline_id}/stop", params={"force": "true"})
        assert forced.status_code == 200
        assert forced.json()["status"] == "stopping"
        assert not syncing(forced.json())
        eventually(lambda: metadata(api, pipeline_id)["status"] == "stopped", 10)

        again = api.post(f"{PIPELINES}/{pipeline_id}/stop")
        assert (again.status_code, again.json()["status"]) == (200, "stopped")
    assert events_of(long_syncs.data_dir, pipeline_id) == [
        ("pipeline_started", None),
        ("sync_started", None),
        ("sync_failed", "stopped by force"),
        ("pipeline_stopped", None),
    ]


def test_archiving_a_running_pipeline_stops_it_first_and_hides_it(
    long_syncs: SandboxProcess, account: str, eventually: Waiter
) -> None:
    with client_of(long_syncs, account) as api:
        kept = create_pipeline(api, definition(catalog_of(api), name="Kept"))["id"]
        pipeline_id = started_pipeline(api, eventually, name="Doomed")
        archived = api.delete(f"{PIPELINES}/{pipeline_id}")
        assert archived.status_code == 200
        assert archived.json()["status"] == "archived"

        listed = [item["id"] for item in api.get(PIPELINES).json()["data"]]
        assert listed == [kept]
        everything = api.get(PIPELINES, params={"include_archived": "true"}).json()["data"]
        assert [item["id"] for item in everything] == [pipeline_id, kept]

        refused = api.post(f"{PIPELINES}/{pipeline_id}/start")
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "CONFLICT")
        twice = api.delete(f"{PIPELINES}/{pipeline_id}")
        assert (twice.status_code, twice.json()) == (200, archived.json())
        assert api.post(f"{PIPELINES}/{pipeline_id}/stop").json()["status"] == "archived"
        assert api.get(f"{PIPELINES}/{pipeline_id}/definition").status_code == 200
    events = [event for event, _ in events_of(long_syncs.data_dir, pipeline_id)]
    assert events == [
        "pipeline_started",
        "sync_started",
        "sync_failed",
        "pipeline_stopped",
        "archived",
    ]


def test_syncs_run_on_the_schedule_and_update_the_timestamps(
    quick_syncs: SandboxProcess, account: str, eventually: Waiter
) -> None:
    with client_of(quick_syncs, account) as api:
        # frequency 20 minutes of 0.02 s: a sync starts every 0.4 s and runs 0.1 s.
        pipeline_id = started_pipeline(api, eventually, frequency=20)

        def starts() -> list[float]:
            return event_times(quick_syncs.data_dir, pipeline_id, "sync_started")

        eventually(lambda: len(starts()) >= 3, 10)
        meta = metadata(api, pipeline_id)
        assert meta["status"] == "running"
        assert meta["last_sync_started_at"] is not None
        assert meta["last_sync_finished_at"] is not None
        assert meta["last_error"] is None
        gaps = [later - earlier for earlier, later in zip(starts(), starts()[1:], strict=False)]
        assert all(gap == pytest.approx(0.4, abs=0.002) for gap in gaps[:2]), gaps
        succeeded = event_times(quick_syncs.data_dir, pipeline_id, "sync_succeeded")
        assert succeeded[0] == pytest.approx(starts()[0] + 0.1, abs=0.002)

        # A graceful stop succeeds once it falls between two syncs.
        def stop_between_syncs() -> bool:
            return api.post(f"{PIPELINES}/{pipeline_id}/stop").status_code == 200

        eventually(stop_between_syncs, 10)
        eventually(lambda: metadata(api, pipeline_id)["status"] == "stopped", 10)
        count = len(starts())
        assert api.post(f"{PIPELINES}/{pipeline_id}/start").json()["status"] == "deploying"
        eventually(lambda: len(starts()) > count, 10)


def test_a_name_containing_fail_makes_syncs_fail(
    quick_syncs: SandboxProcess, account: str, eventually: Waiter
) -> None:
    with client_of(quick_syncs, account) as api:
        pipeline_id = started_pipeline(api, eventually, name="Nightly FAIL drill")
        eventually(lambda: metadata(api, pipeline_id)["status"] == "failed", 10)
        meta = metadata(api, pipeline_id)
        assert "fail" in meta["last_error"]
        assert meta["last_sync_finished_at"] >= meta["last_sync_started_at"]
        events = [event for event, _ in events_of(quick_syncs.data_dir, pipeline_id)]
        assert events == ["pipeline_started", "sync_started", "sync_failed", "pipeline_failed"]
        # A failed pipeline may be started again.
        restarted = api.post(f"{PIPELINES}/{pipeline_id}/start")
        assert restarted.json()["status"] == "deploying"


def test_sigterm_stops_a_server_mid_sync_with_exit_0(tmp_path: Path, eventually: Waiter) -> None:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "console", "sandbox", "serve", "--port", "0"),
            *("--data", str(tmp_path), "--stop-on-stdin-eof"),
            *("--deploy-seconds", "0", "--sync-seconds", "60"),
        ],
        stdin=subprocess.PIPE,  # held open: the stdin watcher blocks while SIGTERM arrives
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip().removeprefix("listening on ")
        with client_at(base_url, tmp_path, "acme") as api:
            pipeline_id = started_pipeline(api, eventually)
            assert syncing(metadata(api, pipeline_id))
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 0, stderr
        assert time.monotonic() - began < 3
        assert "Traceback" not in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
