"""One connection pool for the clients of one server, so a reconnect keeps its connections.

Imported after httpx (`transport.import_httpx`), never before the window's first paint.
"""

from __future__ import annotations

import httpx


class SharedPool(httpx.AsyncBaseTransport):
    """A transport (its pool of open connections) several clients use in turn.

    Switching profiles on the same server (a rename, another environment, `--url` to the
    sandbox) builds a new client: it joins the pool of the one it replaces and reuses its
    open connections (on https, no new TLS handshake). Only connections are shared: each
    client keeps its own key, headers and cookies. The last client to close closes it.
    """

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport
        self._users = 1

    @property
    def is_open(self) -> bool:
        """Whether some client still uses the pool."""
        return self._users > 0

    def join(self) -> bool:
        """Count one more client; False (nothing counted) once the pool is closed."""
        if not self.is_open:
            return False
        self._users += 1
        return True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` over one of the pool's connections."""
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        """One client is done with the pool; the last one closes its connections."""
        if self._users == 0:
            return
        self._users -= 1
        if self._users == 0:
            await self._transport.aclose()
