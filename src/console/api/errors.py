"""The one error type of the API layer: status, code, message, field, correlation ID."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from console.common.contract import error_code_for
from console.common.redaction import redact_secrets


@dataclass(frozen=True)
class Problem:
    """One problem the server reported (the contract's `errors` items)."""

    code: str
    message: str
    field: str | None = None


@dataclass
class ApiError(Exception):
    """A failed API call, as the server (or the network) described it."""

    status: int
    code: str
    message: str
    field: str | None = None
    correlation_id: str | None = None
    problems: list[Problem] = dataclasses.field(default_factory=list)
    retry_after: float | None = None

    def __post_init__(self) -> None:
        # Messages can quote URLs or bodies: never let a secret through.
        self.message = redact_secrets(self.message)
        super().__init__(self.message)

    def __str__(self) -> str:
        text = self.message
        if self.field:
            text += f" (field: {self.field})"
        return text

    @property
    def is_network_error(self) -> bool:
        """True when no HTTP response arrived (connection refused, timeout, DNS)."""
        return self.status == 0

    @classmethod
    def from_response(cls, status: int, body: Any, correlation_id: str | None) -> ApiError:
        """Build from an error response; tolerates servers that stray from the contract."""
        problems: list[Problem] = []
        code, message, field_name = error_code_for(status, "HTTP_ERROR"), f"HTTP {status}", None
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                code = str(error.get("code") or code)
                message = str(error.get("message") or message)
                field_name = error.get("field") or None
            elif isinstance(error, str):
                message = error
            for item in body.get("errors") or []:
                if isinstance(item, dict):
                    problems.append(
                        Problem(
                            code=str(item.get("code") or code),
                            message=str(item.get("message") or ""),
                            field=item.get("field") or None,
                        )
                    )
            correlation_id = body.get("correlation_id") or correlation_id
        if not problems:
            problems.append(Problem(code=code, message=message, field=field_name))
        return cls(
            status=status,
            code=code,
            message=message,
            field=field_name,
            correlation_id=correlation_id,
            problems=problems,
        )
