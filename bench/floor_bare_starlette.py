"""Floor of the tenancy benchmark: a bare Starlette app on uvicorn serving one fixed body.

    python bench/floor_bare_starlette.py BODY_FILE MEDIA_TYPE

No middleware, no authentication, no database: one route answering every GET with the
bytes of BODY_FILE. Listens on a free loopback port, prints `listening on URL`, and
stops when stdin closes (the benchmark holds it).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


class _Announcing(uvicorn.Server):
    """uvicorn printing its address once it listens (as the sandbox does)."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start listening, then print `listening on URL`."""
        await super().startup(sockets=sockets)
        port = self.servers[0].sockets[0].getsockname()[1]
        print(f"listening on http://127.0.0.1:{port}", flush=True)


def main() -> int:
    """Serve the body until stdin closes."""
    body = Path(sys.argv[1]).read_bytes()
    media_type = sys.argv[2]

    async def serve_body(request: Request) -> Response:
        return Response(body, media_type=media_type)

    app = Starlette(routes=[Route("/{path:path}", serve_body, methods=["GET"])])
    # The same server settings as the sandbox's (console.sandbox.server.serve).
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        access_log=False,
        lifespan="off",
        proxy_headers=False,
        server_header=False,
    )
    server = _Announcing(config)

    def watch_stdin() -> None:
        while os.read(sys.stdin.fileno(), 4096):
            pass
        server.should_exit = True

    threading.Thread(target=watch_stdin, daemon=True).start()
    asyncio.run(server.serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
