"""One account or one pipeline never stalls the others (issue 10, A6 and A7)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.definition import Catalog
from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import database_path, mint_key, now
from tests.sandbox.pipeline_support import (
    PIPELINES,
    catalog_of,
    create_pipeline,
    definition,
    event_times,
    events_of,
    yaml_body,
)

Waiter = Callable[..., None]
KEYS = "/api/public/v1/keys"


@pytest.fixture(scope="module")
def quick_syncs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """A server of its own whose schedule minute lasts 0.02 s and whose syncs take 0.1 s."""
    server = SandboxProcess(
        tmp_path_factory.mktemp("tenancy"),
        demo=False,
        extra_args=[
            *("--deploy-seconds", "0.05", "--sync-seconds", "0.1"),
            *("--pipeline-minute-seconds", "0.02"),
        ],
    )
    server.start()
    yield server
    assert server.stop() == 0


def client_of(server: SandboxProcess, account: str) -> httpx.Client:
    """An admin client of `account` (created on first use) on `server`."""
    key = mint_key(server.data_dir, account=account)
    return httpx.Client(
        base_url=str(server.base_url), headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def started(api: httpx.Client, eventually: Waiter, name: str) -> int:
    """A created and started pipeline, once its deploy is over."""
    text = definition(catalog_of(api), name=name, frequency=5)
    pipeline_id = int(create_pipeline(api, text)["id"])
    assert api.post(f"{PIPELINES}/{pipeline_id}/start").status_code == 200
    eventually(lambda: api.get(f"{PIPELINES}/{pipeline_id}").json()["status"] == "running", 10)
    return pipeline_id


def plant(data_dir: Path, pipeline_id: int, **columns: object) -> None:
    """Overwrite columns of a pipeline row behind the server's back (as a corrupt disk might)."""
    conn = sqlite3.connect(database_path(data_dir), timeout=10)
    try:
        assignments = ", ".join(f"{name} = ?" for name in columns)
        with conn:
            conn.execute(
                f"UPDATE pipelines SET {assignments} WHERE id = ?", (*columns.values(), pipeline_id)
            )
    finally:
        conn.close()


def stored_json(data_dir: Path, pipeline_id: int) -> str:
    """A pipeline's stored canonical JSON."""
    conn = sqlite3.connect(database_path(data_dir), timeout=10)
    try:
        row = conn.execute(
            "SELECT definition_json FROM pipelines WHERE id = ?", (pipeline_id,)
        ).fetchone()
    finally:
        conn.close()
    return str(row[0])


def test_a_corrupt_pipeline_row_fails_alone_and_stays_manageable(
    quick_syncs: SandboxProcess, account: str, eventually: Waiter
) -> None:
    data_dir = quick_syncs.data_dir
    with (
        client_of(quick_syncs, account) as api,
        client_of(quick_syncs, account + "-other") as other,
    ):
        healthy = [started(api, eventually, "Healthy"), started(other, eventually, "Elsewhere")]
        victims = {
            kind: int(create_pipeline(api, definition(catalog_of(api), name=kind))["id"])
            for kind in ("huge frequency", "broken json", "null start", "not a mapping")
        }
        # Each victim is planted mid-sync, its end due at once, with something no valid
        # definition could have stored: a frequency of 10**400 minutes (OverflowError),
        # JSON text cut short, a NULL sync start, a list where the document should be.
        huge = stored_json(data_dir, victims["huge frequency"]).replace(
            '"frequency":60', '"frequency":1' + "0" * 400
        )
        assert "0" * 400 in huge
        running = {"status": "running", "sync_in_progress": 1, "due_at": now()}
        plant(data_dir, victims["huge frequency"], definition_json=huge, **running)
        plant(
            data_dir,
            victims["broken json"],
            definition_json='{"sync": {',
            definition_text="name: [unclosed",
            definition_converted=None,
            **running,
        )
        plant(data_dir, victims["null start"], last_sync_started_at=None, **running)
        plant(data_dir, victims["not a mapping"], definition_json="[]", **running)
        planted_at = now()

        # The healthy pipelines of both accounts keep syncing (read from the database, so
        # no request of ours advances them: only the scheduler does).
        def synced_since(pipeline_id: int) -> int:
            times = event_times(data_dir, pipeline_id, "sync_succeeded")
            return sum(1 for at in times if at > planted_at)

        eventually(lambda: all(synced_since(pipeline_id) >= 2 for pipeline_id in healthy), 20)

        for kind, pipeline_id in victims.items():
            url = f"{PIPELINES}/{pipeline_id}"
            meta = api.get(url)
            assert meta.status_code == 200, (kind, meta.text)
            assert meta.json()["status"] == "failed", kind
            assert "cannot be run" in meta.json()["last_error"], kind
            assert ("pipeline_failed", meta.json()["last_error"]) in events_of(
                data_dir, pipeline_id
            )
            for accept in ("application/json", "application/yaml"):
                shown = api.get(f"{url}/definition", headers={"Accept": accept})
                assert shown.status_code == 200, (kind, accept, shown.text)
            assert api.get(PIPELINES).status_code == 200
            assert api.post(f"{url}/stop").status_code == 200, kind
            archived = api.delete(url)
            assert archived.status_code == 200, (kind, archived.text)
            assert archived.json()["status"] == "archived"


def test_a_broken_stored_definition_can_be_replaced(
    quick_syncs: SandboxProcess, account: str
) -> None:
    with client_of(quick_syncs, account) as api:
        text = definition(catalog_of(api), name="Repairable")
        pipeline_id = int(create_pipeline(api, text)["id"])
        plant(
            quick_syncs.data_dir,
            pipeline_id,
            definition_json="{",
            definition_text="{",
            definition_converted=None,
        )
        shown = api.get(f"{PIPELINES}/{pipeline_id}/definition")
        assert shown.status_code == 200
        assert shown.text == "{"  # served as sent when it cannot be converted
        replaced = api.put(f"{PIPELINES}/{pipeline_id}/definition", **yaml_body(text))
        assert replaced.status_code == 200, replaced.text
        assert replaced.json()["revision"] == 2
        assert api.get(f"{PIPELINES}/{pipeline_id}/definition").json()["name"] == "Repairable"


def big_definition(catalog: Catalog, target_bytes: int) -> str:
    """A valid YAML definition of about `target_bytes`, made of many tables."""
    head = definition(catalog, name="Big one").split("tables:")[0]
    row = "  - name: public.table_{0:06d}\n    columns: {{exclude: [secret_{0}, other_{0}]}}\n"
    count = target_bytes // len(row.format(0))
    return head + "tables:\n" + "".join(row.format(i) for i in range(count))


def test_other_accounts_are_served_during_large_validations(
    sandbox: SandboxProcess, mint_key: Callable[..., str], account: str
) -> None:
    base_url = str(sandbox.base_url)
    heavy = {"Authorization": f"Bearer {mint_key(account + '-heavy')}"}
    light = {"Authorization": f"Bearer {mint_key(account + '-light')}"}
    with httpx.Client(base_url=base_url, headers=heavy, timeout=120) as api:
        text = big_definition(catalog_of(api), 800_000)
    assert 750_000 < len(text.encode()) <= 1024 * 1024
    done = threading.Event()

    def validate() -> int:
        with httpx.Client(base_url=base_url, headers=heavy, timeout=120) as client:
            return client.post(f"{PIPELINES}/validate", **yaml_body(text)).status_code

    def other_account() -> list[int]:
        statuses: list[int] = []
        with httpx.Client(base_url=base_url, headers=light, timeout=120) as client:
            while not done.is_set() or not statuses:
                statuses.append(client.get(KEYS, params={"limit": 1}).status_code)
                statuses.append(client.get(PIPELINES).status_code)
        return statuses

    with ThreadPoolExecutor(5) as pool:
        reader = pool.submit(other_account)
        validations = [pool.submit(validate) for _ in range(4)]
        results = [future.result() for future in validations]
        done.set()
        statuses = reader.result()
    assert results == [200] * 4
    assert statuses
    assert set(statuses) == {200}


def test_reads_never_wait_for_the_write_lock(sandbox: SandboxProcess, api: httpx.Client) -> None:
    pipeline: dict[str, Any] = create_pipeline(api, definition(catalog_of(api)))
    url = f"{PIPELINES}/{pipeline['id']}"
    # Another process holds the write lock: a read that took a write transaction would
    # wait for it (busy_timeout is 10 s, the client's timeout 5 s).
    conn = sqlite3.connect(database_path(sandbox.data_dir), isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for path in (KEYS, url, f"{url}/definition", PIPELINES, "/api/public/v1/connections"):
            response = api.get(path, timeout=5)
            assert response.status_code == 200, (path, response.text)
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def children_of(pid: int) -> set[int]:
    """Live child processes of `pid` (Linux /proc), zombies excluded."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == str(pid) and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux /proc")
def test_check_processes_end_with_a_killed_server(tmp_path: Path, eventually: Waiter) -> None:
    server = SandboxProcess(tmp_path / "data", demo=False)
    server.start()
    process = server._process
    assert process is not None
    try:
        with client_of(server, "big") as api:
            text = big_definition(catalog_of(api), 200_000)
            assert api.post(f"{PIPELINES}/validate", **yaml_body(text)).status_code == 200
        helpers = children_of(process.pid)
        assert helpers  # the check ran in a child process
    finally:
        process.kill()  # SIGKILL: the server gets no chance to shut its pool down
        server.stop()  # closes the pipes of the dead child
    eventually(lambda: not any(alive(pid) for pid in helpers), 15)
