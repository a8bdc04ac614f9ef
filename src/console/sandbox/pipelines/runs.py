"""The simulated life of a pipeline: deploy, scheduled syncs, stop, archive (DB thread).

Every automatic step is stored as the instant it is due (`due_at`) and applied by
`advance`, which the scheduler calls for all pipelines and each route calls for the
pipelines it touches. So a pipeline's state is a function of time alone: a route never
sees a deploy that should already have finished, however late the scheduler runs, and
events carry the instant their step was due rather than when it happened to be applied.
"""

from __future__ import annotations

import json
import logging
import math
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
# How much of an unreadable row's error a `last_error` quotes.
_DETAIL_CHARS = 200

logger = logging.getLogger("console.sandbox")


class UnreadablePipeline(ValueError):
    """A stored pipeline row holds something no valid definition could have produced."""


def _set(conn: sqlite3.Connection, pipeline_id: int, **columns: object) -> None:
    """Update some simulation columns of one pipeline (names come from this module only)."""
    assignments = ", ".join(f"{name} = ?" for name in columns)
    values = [round(v, 3) if isinstance(v, float) else v for v in columns.values()]
    conn.execute(f"UPDATE pipelines SET {assignments} WHERE id = ?", (*values, pipeline_id))


def sync_period(row: sqlite3.Row, timing: PipelineTiming) -> float:
    """Real seconds between two sync starts: `sync.frequency` (or `source_frequency`) minutes.

    Raises (UnreadablePipeline, ValueError, TypeError, OverflowError) when the stored
    definition is not one the validator could have accepted; `advance` turns that into a
    failed pipeline rather than a failed tick.
    """
    document = json.loads(row["definition_json"])
    if not isinstance(document, dict):
        raise UnreadablePipeline("the stored definition is not a mapping")
    sync = document.get("sync") or {}
    if not isinstance(sync, dict):
        raise UnreadablePipeline("the stored sync block is not a mapping")
    minutes = sync.get("frequency", sync.get("source_frequency", DEFAULT_FREQUENCY_MINUTES))
    if isinstance(minutes, bool) or not isinstance(minutes, int | float):
        raise UnreadablePipeline(f"the stored sync frequency is {type(minutes).__name__}")
    period = float(minutes) * timing.minute_seconds
    if not math.isfinite(period):
        raise UnreadablePipeline(f"the stored sync frequency {minutes!r} is not finite")
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


def _fail_unreadable(
    conn: sqlite3.Connection, row: sqlite3.Row, now: float, error: Exception
) -> None:
    """Mark a pipeline whose stored row cannot be run as failed, saying why."""
    pipeline_id = int(row["id"])
    detail = f"{type(error).__name__}: {error}"
    if len(detail) > _DETAIL_CHARS:
        detail = detail[: _DETAIL_CHARS - 1] + "…"
    message = (
        f"The pipeline's stored definition or state cannot be run ({detail}); it was stopped. "
        "Replace its definition and start it again, or archive it."
    )
    logger.warning("pipeline %s failed: its stored row cannot be run (%s)", pipeline_id, detail)
    if row["sync_in_progress"]:
        record_event(conn, pipeline_id, now, "sync_failed", message)
        _set(conn, pipeline_id, last_sync_finished_at=now)
    record_event(conn, pipeline_id, now, "pipeline_failed", message)
    _set(conn, pipeline_id, status="failed", sync_in_progress=0, last_error=message, due_at=None)


def _step_or_fail(
    conn: sqlite3.Connection, row: sqlite3.Row, timing: PipelineTiming, now: float
) -> None:
    """Apply one due step; a row that cannot be run fails its own pipeline, not the batch."""
    conn.execute("SAVEPOINT pipeline_step")
    try:
        _step(conn, row, timing, now)
    except Exception as error:  # whatever a corrupt row raises, the other pipelines go on
        conn.execute("ROLLBACK TO pipeline_step")
        conn.execute("RELEASE pipeline_step")
        _fail_unreadable(conn, row, now, error)
        return
    conn.execute("RELEASE pipeline_step")


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
            _step_or_fail(conn, row, timing, now)
        applied += len(rows)
    return applied


def has_due_steps(
    conn: sqlite3.Connection, now: float, *, account_id: int, pipeline_id: int | None = None
) -> bool:
    """Whether `advance` would apply anything for this account (or one of its pipelines)."""
    sql = "SELECT 1 FROM pipelines WHERE due_at IS NOT NULL AND due_at <= ? AND account_id = ?"
    params: list[object] = [now, account_id]
    if pipeline_id is not None:
        sql += " AND id = ?"
        params.append(pipeline_id)
    return conn.execute(sql + " LIMIT 1", params).fetchone() is not None


def next_due(conn: sqlite3.Connection) -> float | None:
    """When the next step of any pipeline is due (None when nothing is scheduled)."""
    # Only numbers: a corrupt text value must not make every tick fail (SQLite sorts text
    # after every number, so `advance` never selects such a row either).
    value = conn.execute(
        "SELECT MIN(due_at) FROM pipelines WHERE due_at IS NOT NULL"
        " AND typeof(due_at) IN ('integer', 'real')"
    ).fetchone()[0]
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


def _abandon_sync(
    conn: sqlite3.Connection,
    row: sqlite3.Row,
    now: float,
    reason: str,
    correlation_id: str | None = None,
) -> None:
    if row["sync_in_progress"]:
        record_event(
            conn, int(row["id"]), now, "sync_failed", reason, correlation_id=correlation_id
        )
        _set(conn, int(row["id"]), sync_in_progress=0, last_sync_finished_at=now)


def stop(
    conn: sqlite3.Connection,
    row: sqlite3.Row,
    timing: PipelineTiming,
    now: float,
    *,
    force: bool,
    correlation_id: str | None = None,
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
        _abandon_sync(conn, row, now, "stopped by force", correlation_id)
    _set(conn, int(row["id"]), status="stopping", due_at=now + timing.deploy_seconds)


def archive(
    conn: sqlite3.Connection, row: sqlite3.Row, now: float, correlation_id: str | None = None
) -> None:
    """Archive a pipeline, tearing it down at once if it is deployed; archiving twice is a no-op.

    `correlation_id`: the archiving request's, for the events' log entries."""
    pipeline_id = int(row["id"])
    if row["status"] == "archived":
        return
    if row["status"] in DEPLOYED:
        _abandon_sync(conn, row, now, "pipeline archived", correlation_id)
        record_event(
            conn,
            pipeline_id,
            now,
            "pipeline_stopped",
            "torn down to archive",
            correlation_id=correlation_id,
        )
    record_event(conn, pipeline_id, now, "archived", correlation_id=correlation_id)
    _set(conn, pipeline_id, status="archived", sync_in_progress=0, due_at=None)
