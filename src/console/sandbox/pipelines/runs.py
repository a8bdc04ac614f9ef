"""The simulated life of a pipeline: deploy, scheduled syncs, stop, archive (DB thread).

Every automatic step is stored as the instant it is due (`due_at`) and applied by
`advance`, which the scheduler calls for all pipelines and each route calls for the
pipelines it touches. So a pipeline's state is a function of time alone: a route never
sees a deploy that should already have finished, however late the scheduler runs, and
events carry the instant their step was due rather than when it happened to be applied.
"""

from __future__ import annotations

import json
import sqlite3

from console.sandbox.http.errors import conflict
from console.sandbox.pipelines.store import record_event
from console.sandbox.settings import PipelineTiming

# A sync fails when the pipeline's name contains this (any case): the documented way to
# watch the failure path (last_error, status failed, pipeline_failed) in the sandbox.
FAILURE_TRIGGER = "fail"
DEFAULT_FREQUENCY_MINUTES = 60.0
# Floor of the time between two sync starts, so no schedule can spin the simulation.
MIN_PERIOD_SECONDS = 0.01
# Statuses in which the pipeline is deployed, or being deployed or torn down.
DEPLOYED = ("deploying", "running", "stopping")
_STEP_BATCH = 200


def _set(conn: sqlite3.Connection, pipeline_id: int, **columns: object) -> None:
    """Update some simulation columns of one pipeline (names come from this module only)."""
    assignments = ", ".join(f"{name} = ?" for name in columns)
    values = [round(v, 3) if isinstance(v, float) else v for v in columns.values()]
    conn.execute(f"UPDATE pipelines SET {assignments} WHERE id = ?", (*values, pipeline_id))


def sync_period(row: sqlite3.Row, timing: PipelineTiming) -> float:
    """Real seconds between two sync starts: `sync.frequency` (or `source_frequency`) minutes."""
    sync = json.loads(row["definition_json"]).get("sync") or {}
    minutes = sync.get("frequency", sync.get("source_frequency", DEFAULT_FREQUENCY_MINUTES))
    try:
        period = float(minutes) * timing.minute_seconds
    except (TypeError, ValueError):
        period = DEFAULT_FREQUENCY_MINUTES * timing.minute_seconds
    return max(period, MIN_PERIOD_SECONDS)


def sync_fails(row: sqlite3.Row) -> bool:
    """Whether this pipeline's simulated syncs fail (its name contains "fail")."""
    return FAILURE_TRIGGER in str(row["name"]).lower()


def _finish_sync(
    conn: sqlite3.Connection, row: sqlite3.Row, timing: PipelineTiming, at: float, now: float
) -> None:
    pipeline_id = int(row["id"])
    if sync_fails(row):
        message = (
            f"Simulated sync failure: the pipeline's name contains {FAILURE_TRIGGER!r} "
            "(the sandbox's failure trigger)."
        )
        record_event(conn, pipeline_id, at, "sync_failed", message)
        record_event(conn, pipeline_id, at, "pipeline_failed", message)
        _set(
            conn,
            pipeline_id,
            status="failed",
            sync_in_progress=0,
            last_sync_finished_at=at,
            last_error=message,
            due_at=None,
        )
        return
    record_event(conn, pipeline_id, at, "sync_succeeded")
    next_start = max(float(row["last_sync_started_at"]) + sync_period(row, timing), at)
    if next_start + timing.sync_seconds < now:
        next_start = now  # the server was down: skip the runs missed meanwhile
    _set(
        conn,
        pipeline_id,
        sync_in_progress=0,
        last_sync_finished_at=at,
        last_error=None,
        due_at=next_start,
    )


def _step(conn: sqlite3.Connection, row: sqlite3.Row, timing: PipelineTiming, now: float) -> None:
    """Apply the one step that is due for this pipeline, at the instant it was due."""
    pipeline_id = int(row["id"])
    at = float(row["due_at"])
    status = row["status"]
    if status == "deploying":
        record_event(conn, pipeline_id, at, "pipeline_started")
        _set(conn, pipeline_id, status="running", due_at=at)  # the first sync starts at once
    elif status == "stopping":
        record_event(conn, pipeline_id, at, "pipeline_stopped")
        _set(conn, pipeline_id, status="stopped", due_at=None)
    elif status == "running" and not row["sync_in_progress"]:
        record_event(conn, pipeline_id, at, "sync_started")
        _set(
            conn,
            pipeline_id,
            sync_in_progress=1,
            last_sync_started_at=at,
            due_at=at + timing.sync_seconds,
        )
    elif status == "running":
        _finish_sync(conn, row, timing, at, now)
    else:
        _set(conn, pipeline_id, due_at=None)  # nothing is scheduled in the other statuses


def advance(
    conn: sqlite3.Connection,
    timing: PipelineTiming,
    now: float,
    *,
    account_id: int | None = None,
    pipeline_id: int | None = None,
) -> int:
    """Apply every step due by `now` (of one pipeline, one account, or all); return how many."""
    sql = "SELECT * FROM pipelines WHERE due_at IS NOT NULL AND due_at <= ?"
    params: list[object] = [now]
    if pipeline_id is not None:
        sql += " AND id = ?"
        params.append(pipeline_id)
    if account_id is not None:
        sql += " AND account_id = ?"
        params.append(account_id)
    sql += f" ORDER BY due_at, id LIMIT {_STEP_BATCH}"
    applied = 0
    while rows := conn.execute(sql, params).fetchall():
        for row in rows:
            _step(conn, row, timing, now)
        applied += len(rows)
    return applied


def next_due(conn: sqlite3.Connection) -> float | None:
    """When the next step of any pipeline is due (None when nothing is scheduled)."""
    value = conn.execute("SELECT MIN(due_at) FROM pipelines WHERE due_at IS NOT NULL").fetchone()[0]
    return None if value is None else float(value)


def start(conn: sqlite3.Connection, row: sqlite3.Row, timing: PipelineTiming, now: float) -> None:
    """Deploy a draft, stopped or failed pipeline; a deploying or running one is left as is."""
    status = row["status"]
    if status == "archived":
        raise conflict("The pipeline is archived; archived pipelines cannot be started.")
    if status == "stopping":
        raise conflict("The pipeline is stopping; start it again once it has stopped.")
    if status in ("draft", "stopped", "failed"):
        _set(conn, int(row["id"]), status="deploying", due_at=now + timing.deploy_seconds)


def _abandon_sync(conn: sqlite3.Connection, row: sqlite3.Row, now: float, reason: str) -> None:
    if row["sync_in_progress"]:
        record_event(conn, int(row["id"]), now, "sync_failed", reason)
        _set(conn, int(row["id"]), sync_in_progress=0, last_sync_finished_at=now)


def stop(
    conn: sqlite3.Connection,
    row: sqlite3.Row,
    timing: PipelineTiming,
    now: float,
    *,
    force: bool,
) -> None:
    """Stop a deploying or running pipeline; 409 SYNC_IN_PROGRESS during a sync unless forced."""
    if row["status"] not in ("deploying", "running"):
        return  # nothing runs (or it is already stopping): a no-op
    if row["sync_in_progress"]:
        if not force:
            raise conflict(
                "A sync is in progress; stop again once it has finished, or with "
                "?force=true to abandon it.",
                code="SYNC_IN_PROGRESS",
            )
        _abandon_sync(conn, row, now, "stopped by force")
    _set(conn, int(row["id"]), status="stopping", due_at=now + timing.deploy_seconds)


def archive(conn: sqlite3.Connection, row: sqlite3.Row, now: float) -> None:
    """Archive a pipeline, tearing it down at once if it is deployed; archiving twice is a no-op."""
    pipeline_id = int(row["id"])
    if row["status"] == "archived":
        return
    if row["status"] in DEPLOYED:
        _abandon_sync(conn, row, now, "pipeline archived")
        record_event(conn, pipeline_id, now, "pipeline_stopped", "torn down to archive")
    record_event(conn, pipeline_id, now, "archived")
    _set(conn, pipeline_id, status="archived", sync_in_progress=0, due_at=None)
