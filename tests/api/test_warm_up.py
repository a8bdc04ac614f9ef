"""The start-up thread's warm-up leaves the first request nothing to import on the UI thread."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from console.api.transport import ApiClient, warm_up_http_client

    warm_up_http_client(tls=False)  # what the start-up thread does for the sandbox
    before = set(sys.modules)

    async def first_request() -> None:
        client = ApiClient(sys.argv[1], sys.argv[2])
        try:
            await client.request("GET", "/api/public/v1/keys", params={"limit": 1})
        finally:
            await client.aclose()

    asyncio.run(first_request())
    print(json.dumps(sorted(set(sys.modules) - before)))
    """
)


def test_the_first_request_after_the_warm_up_imports_nothing(
    sandbox_url: str, admin_key: str
) -> None:
    # A fresh process: this one has long imported what a first request needs.
    result = subprocess.run(
        [sys.executable, "-c", CHILD, sandbox_url, admin_key],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        timeout=60,
        check=True,
    )
    imported = json.loads(result.stdout)
    # Any import here would run on the UI thread, in the first request's way (anyio's
    # backend and core: ~20 ms).
    assert imported == []
