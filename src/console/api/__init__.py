"""A Qt-free async client of the platform API (../shared/PLATFORM_API.md)."""

from console.api.errors import ApiError, Problem
from console.api.transport import ApiClient, RateLimitState, RequestOutcome, RetryWait

__all__ = ["ApiClient", "ApiError", "Problem", "RateLimitState", "RequestOutcome", "RetryWait"]
