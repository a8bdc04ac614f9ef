"""The per-IP rate limit: over HTTP on a 5/60 server, and the window logic itself."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from console.sandbox.http.ratelimit import FixedWindowLimiter
from console.sandbox.process import SandboxProcess
from console.sandbox.settings import RateLimit


def test_sixth_request_in_the_window_is_429(make_sandbox: Callable[..., SandboxProcess]) -> None:
    server = make_sandbox(rate_limit="5/60", demo=False)
    with httpx.Client(base_url=str(server.base_url), timeout=10) as client:
        started = time.time()
        # Unauthenticated requests count too: the limit applies before authentication.
        allowed = [client.get("/api/public/v1/keys") for _ in range(5)]
        assert [response.status_code for response in allowed] == [401] * 5
        assert [response.headers["X-RateLimit-Remaining"] for response in allowed] == [
            "4",
            "3",
            "2",
            "1",
            "0",
        ]
        refused = client.get("/openapi.json")
        again = client.get("/openapi.json")

    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert refused.json()["correlation_id"] == refused.headers["X-Correlation-Id"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Limit"] == "5"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    reset = int(refused.headers["X-RateLimit-Reset"])
    assert started + 59 <= reset <= time.time() + 61
    assert reset == int(allowed[0].headers["X-RateLimit-Reset"])
    assert again.status_code == 429


def test_window_resets_and_rejections_are_not_counted() -> None:
    limiter = FixedWindowLimiter(RateLimit(2, 10))
    assert limiter.hit("a", 100.0).allowed
    assert limiter.hit("a", 101.0).allowed
    refused = limiter.hit("a", 102.2)
    assert not refused.allowed
    assert refused.retry_after == 8  # ceil(110 - 102.2)
    assert refused.headers()["Retry-After"] == "8"
    assert limiter.hit("b", 102.5).allowed  # per client
    assert not limiter.hit("a", 109.99).allowed
    assert limiter.hit("a", 109.999).retry_after == 1  # never 0
    fresh = limiter.hit("a", 110.0)
    assert fresh.allowed
    assert fresh.remaining == 1
    assert fresh.reset == 120.0
