"""Authentication: where a key comes from, and which key (and account) it is."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from starlette.requests import Request

from console.sandbox.http.errors import forbidden, unauthorized
from console.sandbox.storage.sqlite import hash_secret


@dataclass(frozen=True)
class Credentials:
    """A presented key secret and how it came (`header` or `query`)."""

    secret: str = field(repr=False)
    via: str
    # Why these credentials are refused before any lookup (a malformed header, conflicting
    # query parameters); empty when the secret is to be looked up.
    refusal: str = ""


@dataclass(frozen=True)
class Principal:
    """The authenticated key and the account it acts for."""

    account_id: int
    key_id: str
    kind: str
    feed: str | None
    via: str


def credentials_of(request: Request) -> Credentials | None:
    """The key of a request: the Authorization header, else `apiKey`, else `access_token`.

    A present Authorization header always wins, even when malformed, so a caller never
    silently authenticates as a different key than the one it meant to send. For the
    same reason query parameters that disagree (`apiKey` twice with different values, or
    `apiKey` and `access_token` with different values) are refused, never "last one wins".
    """
    header = request.headers.get("authorization")
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


def authenticate(conn: sqlite3.Connection, credentials: Credentials | None, at: float) -> Principal:
    """Find the live key behind `credentials` and stamp its last use; else raise 401."""
    if credentials is None:
        raise unauthorized("An API key is required: send Authorization: Bearer <key>.")
    if credentials.refusal or not credentials.secret:
        raise unauthorized(credentials.refusal or "An API key is required.")
    # The lookup is by the hash of a high-entropy secret, so timing reveals nothing useful.
    row = conn.execute(
        "SELECT id, account_id, kind, feed, expires_at, revoked_at FROM api_keys"
        " WHERE key_hash = ?",
        (hash_secret(credentials.secret),),
    ).fetchone()
    # One message for unknown, revoked and expired keys: a caller learns nothing about
    # which keys exist.
    if row is None or row["revoked_at"] is not None:
        raise unauthorized("The API key is invalid, revoked or expired.")
    if row["expires_at"] is not None and row["expires_at"] <= at:
        raise unauthorized("The API key is invalid, revoked or expired.")
    conn.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (at, row["id"]))
    return Principal(
        account_id=int(row["account_id"]),
        key_id=str(row["id"]),
        kind=str(row["kind"]),
        feed=row["feed"],
        via=credentials.via,
    )


def require_admin(principal: Principal) -> None:
    """Raise 403 unless the key is an admin key (ingest keys only reach ingest routes)."""
    if principal.kind != "admin":
        raise forbidden("Ingest keys may only call the ingest routes; use an admin key.")
