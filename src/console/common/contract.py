"""Facts of the platform contract that both the client and the sandbox server use.

Stdlib only, no I/O: `console.api` and `console.sandbox` may both import it.
"""

from __future__ import annotations

# Events a hook can subscribe to (Connections and hooks).
HOOK_EVENTS: tuple[str, ...] = (
    "pipeline_started",
    "pipeline_stopped",
    "pipeline_failed",
    "sync_succeeded",
    "sync_failed",
)

# Every status a pipeline can be in (Pipelines).
PIPELINE_STATUSES: tuple[str, ...] = (
    "draft",
    "deploying",
    "running",
    "stopping",
    "stopped",
    "failed",
    "archived",
)

# Every processing status of a connector log entry, in the contract's order (Connector logs).
LOG_PROCESSING_STATUSES: tuple[str, ...] = (
    "queued",
    "processing",
    "succeeded",
    "partially_failed",
    "failed",
    "duplicate",
    "rejected",
)

# The error code that goes with each HTTP status (PLATFORM_API.md, Conventions).
ERROR_CODE_BY_STATUS: dict[int, str] = {
    400: "INVALID_PAYLOAD",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    409: "CONFLICT",
    412: "PRECONDITION_FAILED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "UNPROCESSABLE",
    429: "RATE_LIMITED",
}


def error_code_for(status: int, default: str = "INVALID_PAYLOAD") -> str:
    """The contract's code for `status`: INTERNAL for 5xx, `default` when unlisted."""
    if status >= 500:
        return "INTERNAL"
    return ERROR_CODE_BY_STATUS.get(status, default)
