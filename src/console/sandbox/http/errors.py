"""Errors of the platform contract as plain exceptions (stdlib only).

Domain code raises `ApiError`; the HTTP layer (`responses.py`) renders it as the
contract's error body. Keeping this module free of Starlette lets store-level code
raise contract errors without importing the web stack.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem of a request: a contract error code, a message and the field at fault."""

    code: str
    message: str
    field: str | None = None

    def as_json(self) -> dict[str, str | None]:
        """The problem as the contract's `{"code", "message", "field"}` object."""
        return {"code": self.code, "message": self.message, "field": self.field}


class ApiError(Exception):
    """An error response: an HTTP status and every problem found (the first one leads)."""

    def __init__(
        self,
        status: int,
        problems: list[Problem],
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        if not problems:
            raise ValueError("an ApiError needs at least one problem")
        super().__init__(problems[0].message)
        self.status = status
        self.problems = problems
        self.headers = headers or {}

    @classmethod
    def single(
        cls,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> ApiError:
        """An error with exactly one problem."""
        return cls(status, [Problem(code, message, field)], headers=headers)


def unauthorized(message: str = "A valid API key is required.") -> ApiError:
    """401: missing, unknown, revoked or expired key."""
    return ApiError.single(401, "UNAUTHORIZED", message, headers={"WWW-Authenticate": "Bearer"})


def forbidden(message: str) -> ApiError:
    """403: a valid key without the privilege."""
    return ApiError.single(403, "FORBIDDEN", message)


def not_found(what: str) -> ApiError:
    """404: unknown id, or an id of another account (the two look the same)."""
    return ApiError.single(404, "NOT_FOUND", f"{what} not found.")


def conflict(message: str, code: str = "CONFLICT") -> ApiError:
    """409: the request clashes with the object's current state."""
    return ApiError.single(409, code, message)


def validation_failed(problems: list[Problem]) -> ApiError:
    """400 VALIDATION_FAILED: well-shaped values that break a rule."""
    return ApiError(400, problems)


def invalid(field: str, message: str) -> Problem:
    """One VALIDATION_FAILED problem."""
    return Problem("VALIDATION_FAILED", message, field)
