"""What every authenticated route does: authenticate and work in one database hop.

A GET works on a read-only connection (no write lock, never waiting for the writer);
any other method works in one write transaction on the writer thread. Either way the
key's last use is stamped through `LastUsedStamps`, at most once a second, off the path.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from console.sandbox.http.auth import (
    LastUsedStamps,
    Principal,
    Use,
    VerifiedKeys,
    authenticate,
    credentials_of,
    note_principal,
    require_admin,
)
from console.sandbox.http.body_limit import MAX_BODY_BYTES
from console.sandbox.http.errors import ApiError
from console.sandbox.storage.database import Database
from console.sandbox.storage.sqlite import now

T = TypeVar("T")
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class _Refused:
    error: ApiError


def database_of(request: Request) -> Database:
    """The app's database."""
    database: Database = request.app.state.database
    return database


def use_of(request: Request, principal: Principal) -> Use:
    """Where this request's use of its key came from (a key's "first_used" event)."""
    client = request.scope.get("client")
    feed = principal.feed or request.path_params.get("feed_id")
    return Use(
        client_ip=client[0] if client else None,
        via=principal.via,
        route=f"{request.method} {request.scope.get('path', '')}"[:300],
        feed=feed if isinstance(feed, str) else None,
    )


def last_used_of(request: Request) -> LastUsedStamps:
    """The app's last-use stamps of keys."""
    stamps: LastUsedStamps = request.app.state.last_used
    return stamps


def verified_keys_of(request: Request) -> VerifiedKeys:
    """The app's cache of keys found live lately."""
    verified: VerifiedKeys = request.app.state.verified_keys
    return verified


def _note_use(request: Request, stamps: LastUsedStamps, principal: Principal, at: float) -> None:
    """Stamp the key's use; its `Use` is built only when a stamp is due (once a second)."""
    if stamps.due(principal.key_id, at):
        stamps.note(principal.key_id, at, use_of(request, principal))


async def as_admin(
    request: Request,
    work: Callable[[sqlite3.Connection, Principal], T],
    *,
    write: bool | None = None,
    inline: bool = False,
) -> T:
    """Authenticate an admin key and run `work` for its account, all in one DB hop.

    `write` chooses the writer (one write transaction) or a read-only connection; by
    default GET and HEAD read and every other method writes. `inline` runs a read on the
    event loop (`Database.read_inline`): only for a few rows read by an index, with no
    CPU-heavy `work`, and `work` may run twice (its first try found a lock). The key's last use is
    stamped even when `work` refuses the request (404, 409, ...): the request was
    authenticated.
    """
    credentials = credentials_of(request)
    if write is None:
        write = request.method not in ("GET", "HEAD")
    used: list[Principal] = []
    used_at: list[float] = []

    state = request.app.state
    verified: VerifiedKeys = state.verified_keys

    def hop(conn: sqlite3.Connection) -> T | _Refused:
        at = now()
        principal = authenticate(conn, credentials, at, verified)
        used[:] = [principal]  # a retried hop replaces its first try's note
        used_at[:] = [at]
        note_principal(request, principal)
        if not write:
            try:
                require_admin(principal)
                return work(conn, principal)
            except ApiError as error:
                return _Refused(error)
        # A savepoint undoes only `work`'s own writes when it refuses the request.
        conn.execute("SAVEPOINT route_work")
        try:
            require_admin(principal)
            result = work(conn, principal)
        except ApiError as error:
            conn.execute("ROLLBACK TO route_work")
            conn.execute("RELEASE route_work")
            return _Refused(error)
        conn.execute("RELEASE route_work")
        return result

    database: Database = state.database
    try:
        if write:
            outcome = await database.run(hop)
        else:
            outcome = await (database.read_inline(hop) if inline else database.read(hop))
    finally:
        if used:
            _note_use(request, state.last_used, used[0], used_at[0])
    if isinstance(outcome, _Refused):
        raise outcome.error
    return outcome


async def as_key_inline(
    request: Request, work: Callable[[sqlite3.Connection, Principal, float], T | ApiError]
) -> T:
    """Authenticate any key and run `work` (given the key and the time it was checked) in one
    read on the event loop (`Database.read_inline`: a few indexed rows; `work` may run
    twice). 401 is raised, as is the ApiError `work` returns; the key's last use is stamped
    once it authenticated, whatever `work` answers."""
    credentials = credentials_of(request)
    used: list[Principal] = []
    used_at: list[float] = []
    verified = verified_keys_of(request)

    def hop(conn: sqlite3.Connection) -> T | ApiError:
        at = now()
        try:
            principal = authenticate(conn, credentials, at, verified)
        except ApiError as error:
            return error
        used[:] = [principal]  # a retried hop replaces its first try's note
        used_at[:] = [at]
        return work(conn, principal, at)

    try:
        outcome = await database_of(request).read_inline(hop)
    finally:
        if used:
            _note_use(request, last_used_of(request), used[0], used_at[0])
    if isinstance(outcome, ApiError):
        raise outcome
    return outcome


def _request_response(endpoint: Endpoint) -> ASGIApp:
    """`endpoint` as an ASGI app: Starlette's `request_response` without its own exception
    wrapper (a second one, per request, with two more closures and a wrapped `send`).

    An exception the endpoint raises goes on to the app's exception layer
    (`ContractExceptionMiddleware`), which renders it with the same handlers, for the same
    scope (the router updates the scope in place), inside the same middleware.
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await endpoint(Request(scope, receive, send))
        await response(scope, receive, send)

    return app


class Resource(Route):
    """A path's route: its path alone decides (any other method is 405, with `Allow`), and it
    declares the most request body bytes it accepts.

    Starlette keeps looking when a path matches but the method does not, so a later
    parameterised route (`/pipelines/{id}`) took `GET /pipelines/validate` and answered
    404. Here the first route whose path matches answers; literal paths are listed
    before the parameterised ones they overlap.
    """

    def __init__(
        self, path: str, endpoint: Endpoint, *, methods: list[str], max_body_bytes: int
    ) -> None:
        super().__init__(path, endpoint, methods=methods)
        self.max_body_bytes = max_body_bytes
        self.app = _request_response(endpoint)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """FULL whenever the path matches, whatever the method."""
        match, child_scope = super().matches(scope)
        return (Match.FULL if match is Match.PARTIAL else match), child_scope

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """405 with a sorted `Allow` for a method the path does not take, else the handler."""
        if self.methods and scope["method"] not in self.methods:
            raise HTTPException(405, headers={"Allow": ", ".join(sorted(self.methods))})
        await self.app(scope, receive, send)  # Route.handle's own method check is done


def resource(
    path: str, handlers: dict[str, Endpoint], *, max_body_bytes: int = MAX_BODY_BYTES
) -> Route:
    """One route per path with a handler per method, so a 405 lists every allowed method.

    `max_body_bytes` over the contract's 1 MiB makes the body a stream (`request.stream()`)
    counted against that cap as it is read, for routes that write files to disk; the
    body-limit middleware answers 413 once it is passed.
    """

    async def dispatch(request: Request) -> Response:
        # HEAD is answered like GET (Starlette drops the body).
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    dispatch.__name__ = "_".join(handler.__name__ for handler in handlers.values())
    return Resource(path, dispatch, methods=list(handlers), max_body_bytes=max_body_bytes)
