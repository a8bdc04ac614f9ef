"""The UI's live connection: one ApiClient per active profile, observed through Qt signals."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from console.api.capabilities import EVERYTHING, Capabilities
from console.api.keys import KeysApi
from console.api.transport import ApiClient, AuthMode, RequestOutcome, RetryWait
from console.config.profiles import ConnectionProfile
from console.ui.protection import WriteGate

if TYPE_CHECKING:
    # Imported when first used, after the first paint (the keys tab needs only KeysApi).
    from console.api.catalog import CatalogApi
    from console.api.feeds import FeedsApi
    from console.api.logs import LogsApi
    from console.api.pipelines import PipelinesApi


class ConsoleSession(QObject):
    """Holds the active connection and tells the window what happens on the wire."""

    connected = Signal(object)  # ConnectionProfile
    disconnected = Signal()
    request_finished = Signal(object)  # RequestOutcome
    retry_waiting = Signal(object)  # RetryWait
    own_key_rotated = Signal(str)  # the new key's last four characters
    capabilities_changed = Signal(object)  # Capabilities of the connected server

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.profile: ConnectionProfile | None = None
        self.client: ApiClient | None = None
        self._persist_key: Callable[[str], object] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        # Whether the connected profile may be written now (production opens read-only).
        self.protection = WriteGate(parent=self)
        # What the connected server offers; everything until learnt otherwise.
        self.capabilities: Capabilities = EVERYTHING

    def new_client(
        self,
        profile: ConnectionProfile,
        base_url: str,
        api_key: str,
        *,
        renew_key: Callable[[], Awaitable[str]] | None = None,
    ) -> ApiClient:
        """A client for `profile` that is not in use yet (`connect_profile` makes it so).

        `renew_key` (the embedded sandbox) gets a fresh key if the server refuses this
        one before it has accepted it once. Until it is connected, only its retry waits are
        reported (the countdown is worth seeing); its latency and rate-limit figures belong
        to no connection yet. To the server of the connection in use, it reuses that
        connection's open sockets (no new TCP or TLS handshake): only those are shared.
        """
        auth_mode: AuthMode = "query" if profile.auth_mode == "query" else "header"
        client = ApiClient(
            base_url, api_key, auth_mode=auth_mode, renew_key=renew_key, pool_of=self.client
        )
        client.add_observer(self._observe_trial)
        return client

    def connect_profile(
        self,
        profile: ConnectionProfile,
        client: ApiClient,
        *,
        persist_key: Callable[[str], object],
    ) -> None:
        """Switch to `profile` through `client`; `persist_key` keeps a rotated key."""
        self.disconnect_profile()
        self.client = client
        client.remove_observer(self._observe_trial)
        client.add_observer(self._observe)
        self.profile = profile
        self._persist_key = persist_key
        self.protection.set_profile(profile)
        self.connected.emit(profile)

    def disconnect_profile(self) -> None:
        """Drop the current connection (its pool closes in the background)."""
        if self.client is not None:
            client, self.client = self.client, None
            client.remove_observer(self._observe)
            self.close_later(client)
            self.profile = None
            self._persist_key = None
            self.protection.set_profile(None)
            self.set_capabilities(EVERYTHING)
            self.disconnected.emit()

    def close_later(self, client: ApiClient) -> None:
        """Close `client`'s pool in the background; `aclose` waits for it."""
        task = asyncio.ensure_future(client.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """Close the connection and wait for every pool to close."""
        self.disconnect_profile()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def set_capabilities(self, capabilities: Capabilities) -> None:
        """What the connected server offers (learnt on connect)."""
        if capabilities != self.capabilities:
            self.capabilities = capabilities
            self.capabilities_changed.emit(capabilities)

    def require_client(self) -> ApiClient:
        """The active client; raises when no profile is connected."""
        if self.client is None:
            raise RuntimeError("No connection: choose a connection profile first.")
        return self.client

    @property
    def keys(self) -> KeysApi:
        """The keys resource of the active connection."""
        return KeysApi(self.require_client())

    @property
    def feeds(self) -> FeedsApi:
        """The feeds resource of the active connection."""
        from console.api.feeds import FeedsApi

        return FeedsApi(self.require_client())

    @property
    def pipelines(self) -> PipelinesApi:
        """The pipelines resource of the active connection."""
        from console.api.pipelines import PipelinesApi

        return PipelinesApi(self.require_client())

    @property
    def catalog(self) -> CatalogApi:
        """Connections and hooks of the active connection."""
        from console.api.catalog import CatalogApi

        return CatalogApi(self.require_client())

    @property
    def logs(self) -> LogsApi:
        """The connector logs of the active connection (query, detail, trace, stream)."""
        from console.api.logs import LogsApi

        return LogsApi(self.require_client())

    def uses_key(self, prefix: str, last4: str) -> bool:
        """Whether the console itself authenticates with the key shown as prefix…last4."""
        client = self.client
        return client is not None and client.key_prefix == prefix and client.key_last4 == last4

    def adopt_rotated_key(self, secret: str) -> None:
        """Our own key was rotated: use the new one now and keep it where the old one was."""
        client = self.require_client()
        client.set_api_key(secret)
        self.own_key_rotated.emit(secret[-4:])
        if self._persist_key is not None:
            try:
                self._persist_key(secret)
            except Exception as exc:
                raise RuntimeError(
                    "The console now uses the rotated key, but could not store it for next "
                    f"time ({type(exc).__name__}: {exc}). Copy it from the dialog and enter it "
                    "under Connections."
                ) from exc

    def _observe_trial(self, event: RequestOutcome | RetryWait) -> None:
        if isinstance(event, RetryWait):
            self.retry_waiting.emit(event)

    def _observe(self, event: RequestOutcome | RetryWait) -> None:
        if isinstance(event, RetryWait):
            self.retry_waiting.emit(event)
        else:
            self.request_finished.emit(event)
