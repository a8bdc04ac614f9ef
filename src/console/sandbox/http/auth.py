"""Authentication: where a key comes from, and which key (and account) it is."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
import time
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

from starlette.requests import Request

from console.common.redaction import mask_key
from console.sandbox.http.errors import forbidden, unauthorized
from console.sandbox.logs.request_entry import log_context
from console.sandbox.storage.database import Database
from console.sandbox.storage.sqlite import hash_secret

logger = logging.getLogger("console.sandbox")

# A key's last_used_at is written at most once per this many seconds.
LAST_USED_GRANULARITY_SECONDS = 1.0
# A verified key is trusted without a lookup for at most this long (VerifiedKeys); changes
# this server makes are seen at once, this bounds only changes written by another process.
VERIFIED_KEY_SECONDS = 5.0
# At most this many verified keys are kept; a full cache starts again empty.
VERIFIED_KEYS_MAX = 4096


class Credentials(NamedTuple):
    """A presented key secret and how it came (`header` or `query`).

    A named tuple rather than a frozen dataclass: one is made per request, three times
    faster.
    """

    secret: str
    via: str
    # Why these credentials are refused before any lookup (a malformed header, conflicting
    # query parameters); empty when the secret is to be looked up.
    refusal: str = ""

    def __repr__(self) -> str:
        """Never the secret."""
        return f"Credentials(via={self.via!r}, refusal={self.refusal!r})"


@dataclass(frozen=True)
class Principal:
    """The authenticated key and the account it acts for."""

    account_id: int
    key_id: str
    kind: str
    feed: str | None
    via: str
    # The key as logs and records show it: prefix…last4 (never the secret).
    shown: str = ""


def _header_values(request: Request, name: bytes) -> list[bytes]:
    """Every value of header `name` (lowercase), read from the raw list without building a
    Headers object: every request runs this."""
    return [value for key, value in request.scope["headers"] if key == name]


def credentials_of(request: Request) -> Credentials | None:
    """The key of a request: the Authorization header, else `apiKey`, else `access_token`.

    A present Authorization header always wins, even when malformed, so a caller never
    silently authenticates as a different key than the one it meant to send. For the
    same reason values that disagree (two Authorization headers, `apiKey` twice, or
    `apiKey` and `access_token` with different values) are refused, never "first/last wins".
    """
    header_values = _header_values(request, b"authorization")
    if len(set(header_values)) > 1:
        return Credentials(
            "", "header", "The request carries Authorization headers that differ; send one key."
        )
    header = header_values[0].decode("latin-1") if header_values else None
    if header is not None:
        scheme, _, secret = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return Credentials("", "header", "The Authorization header must be 'Bearer <key>'.")
        return Credentials(secret.strip(), "header")
    values = [
        value
        for parameter in ("apiKey", "access_token")
        for value in request.query_params.getlist(parameter)
    ]
    if len(set(values)) > 1:
        return Credentials(
            "",
            "query",
            "The apiKey and access_token query parameters name different keys; send one key.",
        )
    if values and values[0]:
        return Credentials(values[0], "query")
    return None


@dataclass(frozen=True)
class _Verified:
    """A live key as its lookup found it, and which generation of the cache it belongs to."""

    principal: Principal
    expires_at: float | None
    generation: int
    checked: float  # time.monotonic() of the lookup


class VerifiedKeys:
    """Keys this server found live lately, by the hash of their secret (never the secret).

    A hit spares `GET /keys` the key's lookup, about a tenth of its server time. Expiry is
    checked on every use against the kept `expires_at`. Every change of a key this server
    makes (revoke, rotate) calls `invalidate` on the writer thread right after its commit
    (`Database.after_transaction`), before the writer runs anything else, so the next request
    is refused: no stale entry survives the change. An entry is kept only if no
    invalidation came between the start of its lookup and its storing (the generation),
    so a lookup that read the old row cannot put it back. Unknown keys are never kept (a
    key minted by another process works at once); a change written by another process
    directly to the database is seen within `VERIFIED_KEY_SECONDS`. Used from the event loop
    and the database threads: each operation is one dict operation under the GIL.
    """

    def __init__(
        self, seconds: float = VERIFIED_KEY_SECONDS, max_keys: int = VERIFIED_KEYS_MAX
    ) -> None:
        self.seconds = seconds
        self.max_keys = max_keys
        self.generation = 0
        self._entries: dict[str, _Verified] = {}

    def __len__(self) -> int:
        """How many keys are kept."""
        return len(self._entries)

    def get(self, key_hash: str) -> _Verified | None:
        """The kept entry of `key_hash` if it is of this generation and fresh, else None."""
        entry = self._entries.get(key_hash)
        if entry is None or entry.generation != self.generation:
            return None
        if time.monotonic() - entry.checked > self.seconds:
            return None
        return entry

    def put(self, key_hash: str, entry: _Verified) -> None:
        """Keep `entry` unless the cache was invalidated since its lookup began."""
        if entry.generation != self.generation:
            return
        if len(self._entries) >= self.max_keys:
            self._entries.clear()
        self._entries[key_hash] = entry

    def invalidate(self) -> None:
        """Forget every key: one changed (call it once the change is committed)."""
        self.generation += 1
        self._entries.clear()


_REFUSED = "The API key is invalid, revoked or expired."


def authenticate(
    conn: sqlite3.Connection,
    credentials: Credentials | None,
    at: float,
    verified: VerifiedKeys | None = None,
) -> Principal:
    """Find the live key behind `credentials` (reading only); else raise 401.

    With `verified`, a key found live lately is taken from it (expiry still checked at
    `at`), and a key found live is kept there; the lookup must then be the transaction's
    first read, so that it sees every change committed before an invalidation.
    """
    if credentials is None:
        raise unauthorized("An API key is required: send Authorization: Bearer <key>.")
    if credentials.refusal or not credentials.secret:
        raise unauthorized(credentials.refusal or "An API key is required.")
    key_hash = hash_secret(credentials.secret)
    if verified is not None:
        entry = verified.get(key_hash)
        if entry is not None:
            if entry.expires_at is not None and entry.expires_at <= at:
                raise unauthorized(_REFUSED)
            principal = entry.principal
            if principal.via != credentials.via:
                principal = dataclasses.replace(principal, via=credentials.via)
            return principal
        generation, checked = verified.generation, time.monotonic()
    # The lookup is by the hash of a high-entropy secret, so timing reveals nothing useful.
    row = conn.execute(
        "SELECT id, account_id, kind, feed, prefix, last4, expires_at, revoked_at FROM api_keys"
        " WHERE key_hash = ?",
        (key_hash,),
    ).fetchone()
    # One message for unknown, revoked and expired keys: a caller learns nothing about
    # which keys exist.
    if row is None or row["revoked_at"] is not None:
        raise unauthorized(_REFUSED)
    expires_at = row["expires_at"]
    if expires_at is not None and expires_at <= at:
        raise unauthorized(_REFUSED)
    principal = Principal(
        account_id=int(row["account_id"]),
        key_id=str(row["id"]),
        kind=str(row["kind"]),
        feed=row["feed"],
        via=credentials.via,
        shown=mask_key(str(row["prefix"]), str(row["last4"])),
    )
    if verified is not None:
        verified.put(key_hash, _Verified(principal, expires_at, generation, checked))
    return principal


def note_principal(request: Request, principal: Principal) -> None:
    """Tell the request's connector log entry who made it (as soon as it is known, so that
    a refusal after authentication is logged for the key's account)."""
    context = log_context(request)
    context.account_id = principal.account_id
    context.key_id = principal.key_id
    context.key_shown = principal.shown
    context.auth_via = principal.via


@dataclass(frozen=True)
class Use:
    """Where a use of a key came from: what its "first_used" event records."""

    client_ip: str | None
    via: str
    route: str
    feed: str | None


def _stamp(
    conn: sqlite3.Connection, rows: list[tuple[float, str, float]], uses: dict[str, Use]
) -> None:
    """Write (at, key id, at) stamps; a later stamp already stored is kept. A key stamped
    for the first time (no last_used_at yet) gets its "first_used" event: one indexed
    lookup per stamp, a write only that once."""
    for at, key_id, _ in rows:
        use = uses.get(key_id)
        if use is None:
            continue
        conn.execute(
            "INSERT INTO key_events (account_id, key_id, event, at, actor_key_id, actor_shown,"
            " client_ip, auth_via, route, feed)"
            " SELECT account_id, id, 'first_used', ?, id, prefix || '…' || last4, ?, ?, ?, ?"
            " FROM api_keys WHERE id = ? AND last_used_at IS NULL",
            (at, use.client_ip, use.via, use.route, use.feed, key_id),
        )
    conn.executemany(
        "UPDATE api_keys SET last_used_at = ? WHERE id = ?"
        " AND (last_used_at IS NULL OR last_used_at < ?)",
        rows,
    )


class LastUsedStamps:
    """Writes keys' `last_used_at` at most once per key per second, off the request's path.

    An authenticated request notes its key here (on the event loop); a due stamp is queued
    and written by one small batch on the writer thread that no request awaits, so a read
    never waits for the writer. Until that batch commits, `seen` lets the key routes show
    the stamp anyway: a client that used a key and then reads it sees the use.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._latest: dict[str, float] = {}
        self._pending: dict[str, float] = {}
        self._uses: dict[str, Use] = {}
        self._flush: asyncio.Task[None] | None = None

    def due(self, key_id: str, at: float) -> bool:
        """Whether a use of `key_id` at `at` would be stamped (its last stamp is a second old):
        callers build the `Use` only then."""
        latest = self._latest.get(key_id)
        return latest is None or at - latest >= LAST_USED_GRANULARITY_SECONDS

    def note(self, key_id: str, at: float, use: Use | None = None) -> None:
        """Record a use of `key_id` at `at` (written if the last stamp is a second old);
        `use` says where it came from, for the key's "first_used" event."""
        if not self.due(key_id, at):
            return
        self._latest[key_id] = at
        self._pending[key_id] = at
        if use is not None and key_id not in self._uses:
            self._uses[key_id] = use
        if self._flush is None:
            self._flush = asyncio.get_running_loop().create_task(self._write(), name="last-used")

    def seen(self, key_id: str, stored: float | None) -> float | None:
        """The later of a stored `last_used_at` and the last stamp this server took."""
        latest = self._latest.get(key_id)
        if latest is None:
            return stored
        return latest if stored is None else max(stored, latest)

    async def drain(self) -> None:
        """Wait until every queued stamp is written (at shutdown)."""
        while self._flush is not None:
            await asyncio.shield(self._flush)

    async def _write(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, {}
                uses, self._uses = self._uses, {}
                rows = [(at, key_id, at) for key_id, at in batch.items()]
                try:
                    await self.database.run(partial(_stamp, rows=rows, uses=uses))
                except Exception:
                    logger.exception("could not stamp the last use of %d keys", len(rows))
        finally:
            self._flush = None


def require_admin(principal: Principal) -> None:
    """Raise 403 unless the key is an admin key (ingest keys only reach ingest routes)."""
    if principal.kind != "admin":
        raise forbidden("Ingest keys may only call the ingest routes; use an admin key.")
