"""The per-key burst limit of the ingest routes (`sandbox serve --ingest-burst`)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import mint_key


def test_a_key_over_its_ingest_burst_gets_429_with_retry_after(
    make_sandbox: Callable[..., SandboxProcess],
) -> None:
    server = make_sandbox(demo=False, extra_args=["--ingest-burst", "3/60"])
    admin = mint_key(server.data_dir, account="bursty")
    ingest = mint_key(server.data_dir, account="bursty", kind="ingest", feed="events")

    def client(key: str) -> httpx.Client:
        return httpx.Client(
            base_url=str(server.base_url), headers={"Authorization": f"Bearer {key}"}, timeout=10
        )

    with client(ingest) as pusher, client(admin) as api:
        remaining = []
        for index in range(3):
            response = pusher.post("/ingest/events/upsert", json={"id": index})
            assert response.status_code == 202, response.text
            assert response.headers["X-RateLimit-Limit"] == "3"
            remaining.append(response.headers["X-RateLimit-Remaining"])
        assert remaining == ["2", "1", "0"]
        refused = pusher.post("/ingest/events/upsert", json={"id": 3})
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "RATE_LIMITED"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["X-RateLimit-Limit"] == "3"
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        # The generic route counts against the same key.
        assert pusher.post("/ingest/events/intent/upsert", json={"id": 4}).status_code == 429
        # Per key: another key of the same account still has its burst.
        assert api.post("/ingest/events/upsert", json={"id": 5}).status_code == 202
        # Other routes carry the per-IP limit's headers.
        listed = api.get("/api/public/v1/feeds")
        assert listed.status_code == 200
        assert listed.headers["X-RateLimit-Limit"] == "1000"
