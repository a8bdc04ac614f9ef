"""The HTTP transport every resource module uses: one httpx.AsyncClient per profile.

Auth header (or query auth when a profile asks for it), timeouts, typed errors,
bounded retry of 429 honouring Retry-After, and the rate-limit headroom read from
every response.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import re
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from console.api.errors import ApiError
from console.common.redaction import redact_secrets

if TYPE_CHECKING:
    import ssl

    import httpx

    from console.api.shared_pool import SharedPool

log = logging.getLogger(__name__)

AuthMode = Literal["header", "query"]
# A request body: bytes, text, or chunks of bytes (a re-iterable object, when the request
# may be sent again after a 429 or a key renewal; a one-shot generator cannot be).
Content = bytes | str | Iterable[bytes] | AsyncIterable[bytes]
USER_AGENT = "integration-console/0.1"
# Idle pooled connections are closed after this many seconds (see ApiClient.__init__).
KEEPALIVE_SECONDS = 4.0
# Methods that mean the same when sent twice (RFC 9110 9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def import_httpx() -> None:
    """Import httpx (~80 ms), e.g. in a start-up thread while the window paints.

    httpx's package imports its command-line client when click, rich and pygments are
    installed, which costs as much again; the console never uses it, so it is blocked
    here (httpx falls back to a stub `main` on the ImportError).
    """
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    import httpx  # noqa: F401


def warm_up_http_client(*, tls: bool = True) -> None:
    """Import what the first client needs and build its SSL context (start-up thread).

    httpcore with anyio and h11 cost ~40 ms, the verifying SSL context ~35-70 ms: on
    the UI thread they would delay the first request by as much. `tls=False` (the
    embedded sandbox, plain http on loopback) skips the context no request will use.
    anyio loads its asyncio backend (and ~25 modules of its core) only at the first
    request on a running loop: ~20 ms on the UI thread (first request 26 -> 4 ms here).
    """
    import_httpx()
    import anyio._backends._asyncio  # noqa: F401  (what the first request would import)
    import httpcore  # noqa: F401  (imported by the first client's transport)

    import console.api.shared_pool  # noqa: F401  (imported by the first client)

    if tls:
        default_ssl_context()


def ssl_context_for(base_url: str) -> ssl.SSLContext:
    """The context a client of `base_url` gets: the shared verifying one for https.

    A plain-http client never makes a TLS connection (its requests go to its base URL
    and redirects are not followed), yet httpx wants a context: it gets one that trusts
    no certificate at all, so it costs no CA-bundle load and could never connect
    anywhere insecurely.
    """
    if base_url.lower().startswith("https:"):
        return default_ssl_context()
    return _trusting_nothing()


@functools.cache
def _trusting_nothing() -> ssl.SSLContext:
    import ssl

    # PROTOCOL_TLS_CLIENT requires a verified certificate and a matching host name.
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context, built once for every client of the process.

    httpx builds it per client, loading the CA bundle each time (~35 ms); a context can
    serve any number of connections. Built by httpx's own function, so it is exactly
    the default (certifi's bundle, or $SSL_CERT_FILE / $SSL_CERT_DIR as read now).
    """
    import_httpx()
    import httpx

    return httpx.create_ssl_context()


@dataclass
class RateLimitState:
    """The rate-limit headroom the server last reported."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None

    def update(self, headers: Mapping[str, str]) -> None:
        """Read `X-RateLimit-*` headers; absent or malformed ones leave the old value.

        Concurrent answers arrive in any order: within one window (the same reset) the
        remaining count only falls, so a late answer cannot raise it again.
        """
        self.limit = _int_header(headers, "x-ratelimit-limit", self.limit)
        remaining = _int_header(headers, "x-ratelimit-remaining", None)
        reset = _int_header(headers, "x-ratelimit-reset", None)
        same_window = reset is not None and self.reset_at == float(reset)
        if remaining is not None and same_window and self.remaining is not None:
            remaining = min(remaining, self.remaining)
        if remaining is not None:
            self.remaining = remaining
        if reset is not None:
            self.reset_at = float(reset)


@dataclass(frozen=True)
class RequestOutcome:
    """What observers learn after each HTTP exchange (or failure to have one)."""

    method: str
    path: str
    status: int  # 0: no response (network error)
    latency_ms: float
    correlation_id: str | None
    rate_limit: RateLimitState
    error: ApiError | None = None


@dataclass(frozen=True)
class JsonResponse:
    """A 2xx answer's decoded JSON body with its status and headers (for writes whose
    status or headers carry meaning: 201 vs 200, `X-Correlation-Id`)."""

    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def correlation_id(self) -> str | None:
        """The `X-Correlation-Id` the server gave this exchange."""
        return self.headers.get("x-correlation-id")


@dataclass(frozen=True)
class RetryWait:
    """Observers learn this before the client sleeps out a 429."""

    seconds: float
    attempt: int
    correlation_id: str | None


Observer = Callable[[RequestOutcome | RetryWait], None]


class ApiClient:
    """An authenticated async client of one platform deployment."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        auth_mode: AuthMode = "header",
        timeout: float = 15.0,
        max_retries: int = 3,
        max_retry_wait: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
        renew_key: Callable[[], Awaitable[str]] | None = None,
        pool_of: ApiClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth_mode: AuthMode = auth_mode
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.rate_limit = RateLimitState()
        self.last_latency_ms: float | None = None
        self._api_key = api_key
        self._observers: list[Observer] = []
        # Until the server has accepted the key once, a 401 may be answered by getting a
        # fresh key (the console's own sandbox key) and asking again: so no probe request
        # is needed before the first real one. Concurrent 401s share one renewal.
        self._renew_key = renew_key
        self._renewal: asyncio.Future[str] | None = None
        # While our own key is being rotated: the task doing it, and when it is done.
        self._key_change: tuple[asyncio.Task[Any] | None, asyncio.Future[None]] | None = None
        # Imported here, not at module level: httpx costs start-up time that the
        # window's first paint does not need (the console imports it in a thread).
        import_httpx()
        import httpx

        from console.api.shared_pool import SharedPool

        # Idle connections are dropped before common servers' 5 s keep-alive timeout
        # (uvicorn's, Node's), so a connection is rarely reused as it is being closed.
        limits = httpx.Limits(keepalive_expiry=KEEPALIVE_SECONDS)
        verify = ssl_context_for(self.base_url)
        self.pool: SharedPool  # the open connections, shared with clients of this server
        if pool_of is not None and pool_of.base_url == self.base_url and pool_of.pool.join():
            # The same server (scheme, host, port, path): its open connections serve us.
            self.pool = pool_of.pool
        else:
            self.pool = SharedPool(
                transport or httpx.AsyncHTTPTransport(verify=verify, limits=limits)
            )
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            limits=limits,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            transport=self.pool,
            follow_redirects=False,
            verify=verify,
        )

    @property
    def key_last4(self) -> str:
        """The last four characters of the key in use (safe to show)."""
        return self._api_key[-4:]

    @property
    def key_prefix(self) -> str:
        """The kind prefix of the key in use (`fdk_` or `ik_live_`)."""
        return "ik_live_" if self._api_key.startswith("ik_live_") else self._api_key[:4]

    def set_api_key(self, api_key: str) -> None:
        """Switch to another key (after rotating our own) without a new connection."""
        self._api_key = api_key

    @contextlib.asynccontextmanager
    async def changing_key(self) -> AsyncIterator[None]:
        """Around rotating our own key (and adopting the new one): hold 401s until done.

        Concurrent requests have no order on the server: one sent just before the
        rotation may be answered after it, with a 401 for the old key, even before the
        rotation's own answer arrives. Such a 401 waits for this block to end and is then
        asked again with the new key (see `request`).
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        change = (asyncio.current_task(), done)
        self._key_change = change
        try:
            yield
        finally:
            if self._key_change is change:
                self._key_change = None
            done.set_result(None)

    def add_observer(self, observer: Observer) -> None:
        """Call `observer` after every exchange and before every retry wait."""
        self._observers.append(observer)

    def remove_observer(self, observer: Observer) -> None:
        """Stop calling `observer`."""
        if observer in self._observers:
            self._observers.remove(observer)

    async def aclose(self) -> None:
        """Close the client (its connection pool with the last client using it)."""
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content: Content | None = None,
        max_retries: int | None = None,
    ) -> httpx.Response:
        """Send a request; return the 2xx response or raise ApiError.

        A 429 is retried up to `max_retries` times (default: the client's) after sleeping
        its Retry-After (the server did not act on it, so retrying a POST is safe too).
        Callers with their own 429 policy (the bulk uploader) pass 0.
        """
        retries = self.max_retries if max_retries is None else max_retries
        query = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            key_used = self._api_key
            response = await self._send_once(method, path, json, query, headers, content)
            change = self._key_change
            if response.status_code == 401 and change and change[0] is not asyncio.current_task():
                # Our own key is being rotated: the answer may be about the old key.
                await asyncio.shield(change[1])
            if response.status_code == 401 and await self._newer_key_than(key_used):
                # Our own key was rotated (or renewed) while this request was in flight:
                # the answer is about the old key, so ask again with the new one.
                continue
            if response.is_success:
                self._renew_key = None  # the key works: later 401s are the user's to see
            if response.status_code != 429 or attempt >= retries:
                break
            wait = _retry_after_seconds(response.headers.get("retry-after"))
            if wait > self.max_retry_wait:
                break
            attempt += 1
            self._notify(RetryWait(wait, attempt, response.headers.get("x-correlation-id")))
            log.info("rate limited on %s %s: retry %d in %.0f s", method, path, attempt, wait)
            await asyncio.sleep(wait)
        if response.is_success:
            return response
        raise self._error_from(response)

    async def _newer_key_than(self, key_used: str) -> bool:
        """After a 401 for `key_used`: whether there is now another key to try."""
        if self._api_key == key_used and self._renewal is None and self._renew_key is not None:
            renew, self._renew_key = self._renew_key, None  # once per client
            self._renewal = asyncio.ensure_future(renew())
        renewal = self._renewal
        if self._api_key == key_used and renewal is not None:
            if renewal.done() and (renewal.cancelled() or renewal.exception() is not None):
                return False  # it failed once (and said so): a later 401 is only a 401
            # Shielded: one caller's cancellation must not cancel everyone's renewal.
            fresh = await asyncio.shield(renewal)
            if fresh != key_used and self._api_key == key_used:
                log.info("the server refused the key …%s: using a fresh one", key_used[-4:])
                self._api_key = fresh
        return self._api_key != key_used

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET and decode a JSON body."""
        return (await self.request("GET", path, params=params)).json()

    async def post_json(self, path: str, body: Any) -> Any:
        """POST a JSON body and decode the JSON answer."""
        return (await self.request("POST", path, json=body)).json()

    async def request_json_with_meta(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content: Content | None = None,
    ) -> JsonResponse:
        """Send a request; return the decoded body with the status and headers."""
        response = await self.request(
            method, path, json=json, params=params, headers=headers, content=content
        )
        body = response.json() if response.content else None
        return JsonResponse(response.status_code, body, response.headers)

    async def delete_json(self, path: str) -> Any:
        """DELETE and decode the JSON answer."""
        return (await self.request("DELETE", path)).json()

    async def _send_once(
        self,
        method: str,
        path: str,
        json: Any,
        query: dict[str, Any],
        headers: Mapping[str, str] | None,
        content: Content | None,
    ) -> httpx.Response:
        all_headers, query = self._authorized(headers, query)
        import httpx

        started = time.perf_counter()
        try:
            try:
                response = await self._http.request(
                    method, path, json=json, params=query, headers=all_headers, content=content
                )
            except httpx.RemoteProtocolError:
                # A pooled keep-alive connection the server closed just as we reused it
                # (a Retry-After wait as long as the server's keep-alive timeout makes this
                # likely): nothing was answered, so a request that is safe to repeat is
                # sent once more, on a fresh connection.
                if not _safe_to_resend(method, all_headers, content):
                    raise
                log.info("connection closed before %s %s was answered: sending again", method, path)
                response = await self._http.request(
                    method, path, json=json, params=query, headers=all_headers, content=content
                )
        except httpx.TimeoutException as exc:
            # httpx's timeouts often have no text: no empty "()" after the sentence.
            detail = redact_secrets(str(exc)).strip()
            message = f"{self.base_url} did not answer in time"
            error = ApiError(0, "TIMEOUT", f"{message} ({detail})" if detail else message)
            self._record(method, path, 0, started, None, error)
            raise error from None
        except httpx.HTTPError as exc:
            error = ApiError(0, "NETWORK_ERROR", network_error_text(self.base_url, exc))
            self._record(method, path, 0, started, None, error)
            raise error from None
        self.rate_limit.update(response.headers)
        correlation_id = response.headers.get("x-correlation-id")
        failure = None if response.is_success else self._error_from(response)
        self._record(method, path, response.status_code, started, correlation_id, failure)
        return response

    def _authorized(
        self, headers: Mapping[str, str] | None, query: dict[str, Any]
    ) -> tuple[dict[str, str], dict[str, Any]]:
        all_headers = dict(headers or {})
        if self.auth_mode == "header":
            all_headers["Authorization"] = f"Bearer {self._api_key}"
        else:
            query = {**query, "apiKey": self._api_key}
        return all_headers, query

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        read_timeout: float | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """Open a streamed response (server-sent events) whose body the caller reads.

        A non-2xx answer raises ApiError before anything is yielded; a network failure or
        a read timeout, also while the caller reads, raises ApiError with status 0.
        `read_timeout` bounds the wait for each chunk (None: the client's timeout).
        """
        import httpx

        query = {k: v for k, v in (params or {}).items() if v is not None}
        all_headers, query = self._authorized(headers, query)
        timeout = self._http.timeout
        if read_timeout is not None:
            timeout = httpx.Timeout(
                timeout.read,
                connect=timeout.connect,
                read=read_timeout,
                write=timeout.write,
                pool=timeout.pool,
            )
        started = time.perf_counter()
        try:
            async with self._http.stream(
                method, path, params=query, headers=all_headers, timeout=timeout
            ) as response:
                self.rate_limit.update(response.headers)
                correlation_id = response.headers.get("x-correlation-id")
                if not response.is_success:
                    await response.aread()
                    error = self._error_from(response)
                    self._record(method, path, response.status_code, started, correlation_id, error)
                    raise error
                self._record(method, path, response.status_code, started, correlation_id, None)
                yield response
        except httpx.TimeoutException as exc:
            detail = redact_secrets(str(exc)).strip()
            message = f"{self.base_url} sent nothing in time"
            raise ApiError(0, "TIMEOUT", f"{message} ({detail})" if detail else message) from None
        except httpx.HTTPError as exc:
            raise ApiError(0, "NETWORK_ERROR", network_error_text(self.base_url, exc)) from None

    def _record(
        self,
        method: str,
        path: str,
        status: int,
        started: float,
        correlation_id: str | None,
        error: ApiError | None,
    ) -> None:
        latency_ms = (time.perf_counter() - started) * 1000
        self.last_latency_ms = latency_ms
        log.debug(
            "%s %s -> %s in %.1f ms [%s]", method, path, status or "-", latency_ms, correlation_id
        )
        self._notify(
            RequestOutcome(method, path, status, latency_ms, correlation_id, self.rate_limit, error)
        )

    def _notify(self, event: RequestOutcome | RetryWait) -> None:
        for observer in list(self._observers):
            try:
                observer(event)
            except Exception:
                log.exception("request observer failed")

    @staticmethod
    def _error_from(response: httpx.Response) -> ApiError:
        try:
            body: Any = response.json()
        except ValueError:
            body = {"error": {"message": response.text[:500] or response.reason_phrase}}
        error = ApiError.from_response(
            response.status_code, body, response.headers.get("x-correlation-id")
        )
        if response.status_code == 429:
            error.retry_after = _retry_after_seconds(response.headers.get("retry-after"))
        return error


_SSL_NOISE = re.compile(r"\[SSL: [A-Z0-9_]+\]\s*|\s*\(_ssl\.c:\d+\)")


def network_error_text(base_url: str, error: BaseException) -> str:
    """A sentence for a failure to reach `base_url` (no OpenSSL codes or source lines)."""
    detail = redact_secrets(str(error)).strip()
    if "CERTIFICATE_VERIFY_FAILED" in detail:
        reason = _SSL_NOISE.sub("", detail).removeprefix("certificate verify failed: ")
        return f"the server's certificate could not be verified: {reason} ({base_url})"
    if detail.startswith("[SSL"):
        return f"the secure connection to {base_url} failed: {_SSL_NOISE.sub('', detail)}"
    return f"could not reach {base_url}: {detail or type(error).__name__}"


def _int_header(headers: Mapping[str, str], name: str, default: int | None) -> int | None:
    try:
        return int(headers[name])
    except (KeyError, ValueError):
        return default


def _safe_to_resend(method: str, headers: Mapping[str, str], content: Content | None) -> bool:
    """Whether a request whose connection closed unanswered may be sent again.

    Idempotent methods, or a POST carrying an Idempotency-Key; and only with a body that
    can be read again (none, bytes or text: an iterator may be half consumed).
    """
    replayable = content is None or isinstance(content, bytes | str)
    keyed = any(name.lower() == "idempotency-key" for name in headers)
    return replayable and (method.upper() in IDEMPOTENT_METHODS or keyed)


def _retry_after_seconds(value: str | None) -> float:
    """Seconds to wait: the header's whole seconds, at least 1 (HTTP dates not used here)."""
    try:
        return max(1.0, float(math.ceil(float(value or "1"))))
    except ValueError:
        return 1.0
