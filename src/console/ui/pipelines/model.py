"""Table model of pipelines and the filter in front of it."""

from __future__ import annotations

from typing import Any

from console.api.pipelines import Pipeline
from console.ui.formatting import format_relative, format_timestamp
from console.ui.widgets.row_table import RowFilterModel, RowTableModel

COLUMNS = ("Name", "Status", "Last sync", "Updated", "Rev")
STATUS_COLUMN = COLUMNS.index("Status")


class PipelinesTableModel(RowTableModel):
    """One row per pipeline, updated in place so selection survives live refreshes."""

    columns = COLUMNS

    def display(self, row: Any, column: str) -> str:
        """The cell's text (relative times; the absolute ones are tooltips)."""
        pipeline: Pipeline = row
        match column:
            case "Name":
                return pipeline.name
            case "Status":
                return pipeline.status
            case "Last sync":
                # The same words as the metadata's "Last sync": a running sync says so.
                if sync_running(pipeline):
                    return "running"
                return format_relative(pipeline.last_sync_finished_at, empty="never")
            case "Updated":
                return format_relative(pipeline.updated_at)
            case _:
                return str(pipeline.revision)

    def sort_value(self, row: Any, column: str) -> Any:
        """Times and revisions sort as numbers."""
        pipeline: Pipeline = row
        match column:
            case "Last sync":
                return pipeline.last_sync_finished_at or 0.0
            case "Updated":
                return pipeline.updated_at
            case "Rev":
                return pipeline.revision
            case _:
                return super().sort_value(row, column)

    def tooltip(self, row: Any, column: str) -> str | None:
        """Full name and id, the last error, absolute times."""
        pipeline: Pipeline = row
        match column:
            case "Name":
                return f"{pipeline.name} (id {pipeline.id})"
            case "Status" if pipeline.last_error:
                return f"Last error: {pipeline.last_error}"
            case "Last sync" if sync_running(pipeline):
                return f"Running since {format_timestamp(pipeline.last_sync_started_at)}"
            case "Last sync":
                return format_timestamp(pipeline.last_sync_finished_at, empty="Never synced")
            case "Updated":
                return format_timestamp(pipeline.updated_at)
            case "Rev":
                return f"Revision {pipeline.revision}"
            case _:
                return None


def sync_running(pipeline: Pipeline) -> bool:
    """Whether a sync has started and not finished (the list and metadata both say so)."""
    started, finished = pipeline.last_sync_started_at, pipeline.last_sync_finished_at
    return started is not None and (finished is None or started > finished)


def pipelines_filter() -> RowFilterModel:
    """Text filter over name and id; status filter."""
    return RowFilterModel(
        haystack=lambda pipeline: f"{pipeline.name} {pipeline.id}",
        status=lambda pipeline: pipeline.status,
    )
