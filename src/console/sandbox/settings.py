"""Settings of one sandbox server: rate limits and demo data."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class RateLimit:
    """At most `requests` requests per fixed window of `seconds` seconds."""

    requests: int
    seconds: int

    def __post_init__(self) -> None:
        if self.requests < 1 or self.seconds < 1:
            raise ValueError("a rate limit needs at least 1 request per at least 1 second")

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Parse `N/SECONDS`, e.g. `1000/300`; raise ValueError on anything else."""
        match = _RATE.match(text)
        if match is None:
            raise ValueError(f"expected N/SECONDS such as 1000/300, got {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.requests}/{self.seconds}"


@dataclass(frozen=True)
class SandboxSettings:
    """What a sandbox server is configured with (the contract's defaults unless overridden)."""

    # Per client IP, counted before authentication (PLATFORM_API "Rate limits").
    rate_limit: RateLimit = field(default_factory=lambda: RateLimit(1000, 300))
    # Per ingest key on the ingest routes (used once those routes exist).
    ingest_burst: RateLimit = field(default_factory=lambda: RateLimit(20, 1))
    # Seed the "demo" account on start-up (idempotent).
    demo: bool = False
