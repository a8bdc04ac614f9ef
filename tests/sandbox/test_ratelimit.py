"""The per-IP rate limit: over HTTP on a 5/60 server, and the window logic itself."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import FrameType

import httpx

from console.sandbox.http import ratelimit
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


def _lines_run(call: Callable[[], object]) -> int:
    """How many lines of the limiter's module `call` executes: its work, without a clock."""
    module = ratelimit.__file__
    lines = 0

    def trace(frame: FrameType, event: str, arg: object) -> Callable[..., object] | None:
        nonlocal lines
        if frame.f_code.co_filename != module:
            return None
        if event == "line":
            lines += 1
        return trace

    sys.settrace(trace)
    try:
        call()
    finally:
        sys.settrace(None)
    return lines


def _work_per_hit(tracked: int) -> list[int]:
    """The work of a new client's hit, an old client's hit, and a hit once all have expired."""
    limiter = FixedWindowLimiter(RateLimit(5, 60))
    for n in range(tracked):
        limiter.hit(f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}", 1000.0)
    assert len(limiter) == tracked
    return [
        _lines_run(lambda: limiter.hit("192.0.2.1", 1001.0)),  # a new client
        _lines_run(lambda: limiter.hit("10.0.0.7", 1002.0)),  # a tracked one
        _lines_run(lambda: limiter.hit("192.0.2.2", 5000.0)),  # every window has ended
    ]


def test_work_per_request_does_not_grow_with_tracked_clients() -> None:
    few = _work_per_hit(1_000)
    many = _work_per_hit(50_000)
    assert many == few


def test_finished_windows_are_forgotten_without_a_full_scan() -> None:
    limiter = FixedWindowLimiter(RateLimit(5, 60))
    for n in range(1_000):
        limiter.hit(f"client-{n}", 100.0)
    limiter.hit("late", 150.0)
    # Once their windows end, each request forgets a few of them, never all at once.
    limiter.hit("later", 200.0)
    assert 990 <= len(limiter) < 1_002
    for n in range(600):
        limiter.hit("later", 200.0 + n / 1000)
    assert len(limiter) == 2  # "late" (window open until 210) and "later"
    assert limiter.hit("client-3", 201.0).remaining == 4  # a fresh window


def test_forwarding_headers_do_not_reset_a_429(
    make_sandbox: Callable[..., SandboxProcess],
) -> None:
    server = make_sandbox(rate_limit="5/60", demo=False)
    disguises = [
        {"X-Forwarded-For": "203.0.113.7"},
        {"X-Forwarded-For": "198.51.100.1, 203.0.113.8"},
        {"X-Real-IP": "203.0.113.9"},
        {"Forwarded": "for=203.0.113.10;proto=https"},
        {"Forwarded": 'for="[2001:db8::1]"'},
        {
            "X-Forwarded-For": "203.0.113.11",
            "X-Real-IP": "203.0.113.12",
            "Forwarded": "for=203.0.113.13",
            "X-Forwarded-Proto": "https",
        },
    ]
    with httpx.Client(base_url=str(server.base_url), timeout=10) as client:
        first = [client.get("/openapi.json").status_code for _ in range(5)]
        assert first == [200] * 5
        refused = [client.get("/openapi.json", headers=headers) for headers in disguises]
    assert [response.status_code for response in refused] == [429] * len(disguises)
    assert {response.headers["X-RateLimit-Remaining"] for response in refused} == {"0"}
