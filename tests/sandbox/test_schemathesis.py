"""Conformance: a bounded schemathesis run with every check against the real sandbox.

It starts its own sandbox, gives the run an account with one pipeline (so the
/pipelines/{pipeline_id} routes reach their logic instead of 404), and runs the
schemathesis CLI over /openapi.json with `--checks all`: examples, coverage, fuzzing and
stateful phases, a fixed seed and a few examples per operation. Any failure fails the test;
its output shows the failing requests and how to replay them.

What the run leaves out, and why:
- `use_after_free`: DELETE on /keys/{key_id} revokes and on /pipelines/{pipeline_id}
  archives; the contract keeps both readable afterwards (audit trail, include_archived), and
  the document says so on both DELETE operations. The check assumes DELETE erases.
- `schemathesis_hooks.filter_failure` drops known, explained "schema-valid request
  rejected" failures, each by a narrow predicate: rules no schema can state (a definition's
  connection and hook ids must be the account's, unique tables...: 400 VALIDATION_FAILED;
  a key's `feed` must exist and `expires_at` be in the future: 400; an import's file must
  have a usable CSV header: 400 naming `file`), a stale If-Match (412
  comes first), and integral floats such as `9069.0` for integer fields (422 today: the
  JSON reader in http/payload.py and console/definition decide, not this document).
- Record list cursors are signed, so a generated `cursor` is refused (400, field `cursor`);
  and record writes whose system_id and data's id field disagree (or that would drop a
  record's system id) are 400: the id field's name is the feed's, which no schema states.
- The /ingest routes run on a trigger feed of an account of their own (its keys from a
  second auth provider), so their cases reach the queue. The generic route's body is the
  one its `intent` names, which one schema cannot state (the document gives the union): a
  body failing that intent's own schema is a known 400; so is an integral-float id (`3.0`).
- POST /api/ingest runs on the conformance feed (`?stream=` fixed). With an X-Item-Key
  every item must carry that field, which the body's schema (the feed's id field) cannot
  state: a 400 naming it is known. A repeated Idempotency-Key is answered 202 with the first
  body before the new body is read (D3/D4): a schema-violating body answered so is known.
- GET /logs/stream is left out: a server-sent event stream never ends by itself (it ends
  when the client leaves or the server stops), so every case would hit the request
  timeout. tests/sandbox/test_logs_stream.py covers it; the log list's cursors are signed
  like the records' (a generated one is 400, field `cursor`).
- Negative data answered 412 counts as rejected: a PUT with an If-Match naming another
  revision is refused before its body is read (docs/api.md, Pipelines).
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import database_path, mint_key

HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
ACCOUNT = "conformance"
INGEST_ACCOUNT = "conformance-ingest"
FEED = "conformance"
SEED = 20261129
MAX_EXAMPLES = 50
# The one operation left out (see the module docstring).
STREAM = "/api/public/v1/logs/stream"
REFUSAL_STATUSES = [
    "400", "401", "403", "404", "405", "406", "409", "412", "413", "415", "422", "428", "429",
]  # fmt: skip


def _conformance_pipeline(base_url: str, key: str) -> int:
    """Create the pipeline the run's /pipelines/{pipeline_id} cases use; return its id."""
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as api:
        connections = api.get("/api/public/v1/connections").json()["data"]
        source = next(c["id"] for c in connections if c["role"] == "source")
        destination = next(c["id"] for c in connections if c["role"] == "destination")
        created = api.post(
            "/api/public/v1/pipelines",
            json={
                "definition_version": 1,
                "name": "Conformance",
                "source": {"connection": {"id": source}},
                "destination": {"connection": {"id": destination}},
                "sync": {"frequency": 60},
                "tables": [{"name": "orders"}],
            },
        )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def _conformance_feed(base_url: str, key: str) -> str:
    """Create the feed the run's /feeds/{feed_id}/... cases use; return its id."""
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as api:
        created = api.post(
            "/api/public/v1/feeds",
            json={"id": FEED, "name": "Conformance", "method": "ingest"},
        )
    assert created.status_code == 201, created.text
    return FEED


def _ingest_feed(base_url: str, key: str) -> None:
    """Create the feed the run's /ingest/{feed_id}/... cases use: a trigger feed, where every
    intent applies. It belongs to an account of its own: the conformance account's feed of
    the same id is the ingest feed the import routes use."""
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as api:
        feed = api.post(
            "/api/public/v1/feeds",
            json={"id": FEED, "name": "Conformance", "method": "trigger", "id_field": "id"},
        )
    assert feed.status_code == 201, feed.text


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_schemathesis_finds_nothing(
    make_sandbox: Callable[..., SandboxProcess], tmp_path: Path
) -> None:
    server = make_sandbox(
        demo=False, rate_limit="100000000/300", extra_args=["--ingest-burst", "100000000/1"]
    )
    base_url = str(server.base_url)
    key = mint_key(server.data_dir, account=ACCOUNT)
    pipeline_id = _conformance_pipeline(base_url, key)
    feed_id = _conformance_feed(base_url, key)
    _ingest_feed(base_url, mint_key(server.data_dir, account=INGEST_ACCOUNT))
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f'[parameters]\n"path.pipeline_id" = {pipeline_id}\n\n'
        # The import routes get an existing feed, so they reach their logic.
        f'[[operations]]\ninclude-path-regex = "/imports"\n'
        f'parameters = {{ "path.feed_id" = "{feed_id}" }}\n\n'
        "[checks.negative_data_rejection]\n"
        f"expected-statuses = {REFUSAL_STATUSES!r}\n".replace("'", '"')
        # The ingest routes run on a real feed, so their cases reach the queue.
        + f'\n[[operations]]\ninclude-path-regex = "^/ingest/"\n'
        f'parameters = {{ "path.feed_id" = "{FEED}" }}\n'
        # /api/ingest runs on the conformance account's ingest feed (admin keys name it).
         + f'\n[[operations]]\ninclude-path-regex = "^/api/ingest$"\n'
        f'parameters = {{ "query.stream" = "{FEED}" }}\n',
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": str(HOOKS),
        "CONFORMANCE_DATA": str(server.data_dir),
        "CONFORMANCE_ACCOUNT": ACCOUNT,
        "CONFORMANCE_INGEST_ACCOUNT": INGEST_ACCOUNT,
        "NO_COLOR": "1",
    }
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--exclude-checks",
        "use_after_free",
        "--exclude-path",
        STREAM,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--no-shrink",
        "--request-timeout",
        "10",
    ]
    run = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=540, check=False
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-20_000:]
    # Every operation of the document but the stream was selected and tested (none
    # unloadable).
    counts = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)\b", output)
    assert counts, output[-5_000:]
    selected, total, tested = map(int, counts.groups())
    assert (selected, tested) == (total - 1, total - 1), output[-5_000:]
    # The ingest operations reached the queue with every intent (on the conformance feed).
    conn = sqlite3.connect(database_path(server.data_dir), timeout=10)
    try:
        intents = {row[0] for row in conn.execute("SELECT DISTINCT intent FROM intents")}
        # POST /api/ingest queued some too (only it names the request of an intent).
        streamed = conn.execute(
            "SELECT COUNT(*) FROM intents WHERE request_id IS NOT NULL"
        ).fetchone()[0]
    finally:
        conn.close()
    assert intents >= {"upsert", "patch", "delete", "fetch", "fetch-list"}
    assert streamed > 0
