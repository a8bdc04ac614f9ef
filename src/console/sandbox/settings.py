"""Settings of one sandbox server: rate limits, demo data and pipeline time compression."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The parts of the contract a server may offer (`sandbox serve --only`). The same names as
# the console's `console.api.capabilities.PARTS` (a test keeps them in step); the sandbox
# stands alone, so it does not import them.
PARTS = ("keys", "pipelines", "feeds", "records", "intents", "ingest", "logs")

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
class PipelineTiming:
    """How fast simulated pipelines run (the sandbox compresses time)."""

    # Real seconds one schedule minute lasts (a `frequency: 60` pipeline syncs every
    # 60 * minute_seconds seconds).
    minute_seconds: float = 1.0
    # Real seconds one simulated sync runs.
    sync_seconds: float = 2.0
    # Real seconds a simulated deploy, and a graceful teardown, take.
    deploy_seconds: float = 0.5

    def __post_init__(self) -> None:
        if not self.minute_seconds > 0:
            raise ValueError("a schedule minute must last more than 0 seconds")
        if self.sync_seconds < 0 or self.deploy_seconds < 0:
            raise ValueError("sync and deploy durations must not be negative")


@dataclass(frozen=True)
class BodyTiming:
    """How long a request body may take to arrive, and how many body bytes may be held.

    A body the server is still waiting for is held in memory (at most the 1 MiB cap each):
    without these bounds, clients that send most of a body and then stall could hold any
    amount of it for as long as they like.
    """

    # Without a byte for this long, the request is answered 408.
    idle_seconds: float = 10.0
    # A body of at most 1 MiB takes at most this long in all (35 KB/s at the cap), else 408.
    total_seconds: float = 30.0
    # Body bytes held at once across all requests still arriving; past it, 503 + Retry-After.
    in_flight_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class IntentTiming:
    """How the simulated connector polls polling feeds (docs/api.md, Intents)."""

    # Real seconds between two polls of one polling feed (the first comes at once).
    poll_seconds: float = 60.0
    # Records the simulated source yields per poll.
    records_per_poll: int = 5

    def __post_init__(self) -> None:
        if not self.poll_seconds > 0:
            raise ValueError("the poll interval must be more than 0 seconds")
        if self.records_per_poll < 1:
            raise ValueError("a poll yields at least 1 record")


@dataclass(frozen=True)
class ImportSettings:
    """File imports (docs/api.md, Imports): their own body cap, and rows per transaction."""

    # The most bytes a multipart import body may have (the file plus its form fields).
    max_upload_bytes: int = 1024 * 1024 * 1024
    # Data rows applied per writer transaction.
    batch_rows: int = 5000

    def __post_init__(self) -> None:
        if self.max_upload_bytes < 1 or self.batch_rows < 1:
            raise ValueError("the import cap and batch size must be at least 1")


@dataclass(frozen=True)
class LogSettings:
    """Connector logs (docs/api.md, Connector logs): retention, pruning, stream and sink."""

    # Entries older than this many days are pruned (`--log-retention-days`, 1-3650).
    retention_days: int = 30
    # Real seconds between two pruning rounds.
    prune_seconds: float = 60.0
    # A stream without output for this long sends a comment heartbeat.
    heartbeat_seconds: float = 15.0
    # Entries a stream's subscription holds before it falls back to reading the database.
    stream_queue: int = 1000
    # Streams one key may have open at once (the next one gets 429).
    streams_per_key: int = 10
    # Entries written without a transaction of their own (refusals, replays) are flushed
    # in one writer transaction this often.
    flush_seconds: float = 0.1
    # Log entries seeded in bulk into the demo account at start-up (`--demo-logs N`).
    demo_logs: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.retention_days <= 3650:
            raise ValueError("log retention must be 1 to 3650 days")
        if not (self.prune_seconds > 0 and self.heartbeat_seconds > 0 and self.flush_seconds > 0):
            raise ValueError("log intervals must be more than 0 seconds")
        if self.stream_queue < 1 or self.streams_per_key < 1 or self.demo_logs < 0:
            raise ValueError("stream sizes must be at least 1 and demo_logs not negative")


@dataclass(frozen=True)
class SandboxSettings:
    """What a sandbox server is configured with (the contract's defaults unless overridden)."""

    # Per client IP, counted before authentication (PLATFORM_API "Rate limits").
    rate_limit: RateLimit = field(default_factory=lambda: RateLimit(1000, 300))
    # Per key on the ingest routes.
    ingest_burst: RateLimit = field(default_factory=lambda: RateLimit(20, 1))
    # Seed the "demo" account on start-up (idempotent).
    demo: bool = False
    # Records seeded in bulk into the demo account's `demo-records` feed at start-up.
    demo_records: int = 0
    # Time compression of the simulated pipeline runs.
    pipelines: PipelineTiming = field(default_factory=PipelineTiming)
    # Bounds on request bodies still arriving.
    bodies: BodyTiming = field(default_factory=BodyTiming)
    # Polling of polling feeds by the simulated connector.
    intents: IntentTiming = field(default_factory=IntentTiming)
    # File imports: their body cap and batch size.
    imports: ImportSettings = field(default_factory=ImportSettings)
    # Connector logs: retention, live stream, demo seeding.
    logs: LogSettings = field(default_factory=LogSettings)
    # The parts of the contract served (`serve --only`); every part unless limited.
    parts: frozenset[str] = frozenset(PARTS)

    def __post_init__(self) -> None:
        unknown = sorted(self.parts - set(PARTS))
        if unknown or not self.parts:
            raise ValueError(f"parts must be some of {', '.join(PARTS)} (got {unknown or 'none'})")
