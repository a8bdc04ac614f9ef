"""Contract conventions: auth sources, correlation ids, error bodies, body validation."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from console.sandbox.server import create_app

KEYS = "/api/public/v1/keys"
CORRELATION_ID = re.compile(r"^corr_[A-Za-z0-9]{26}$")


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check the contract's error body and headers; return the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body: dict[str, Any] = response.json()
    assert set(body) == {"success", "error", "errors", "correlation_id"}
    assert body["success"] is False
    assert set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["errors"][0] == body["error"]
    assert body["correlation_id"] == response.headers["X-Correlation-Id"]
    for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert response.headers[header].isdigit()
    return body


def test_header_and_both_query_parameters_authenticate(
    client: httpx.Client, admin_key: str
) -> None:
    assert client.get(KEYS, headers={"Authorization": f"Bearer {admin_key}"}).status_code == 200
    assert client.get(KEYS, params={"apiKey": admin_key}).status_code == 200
    assert client.get(KEYS, params={"access_token": admin_key}).status_code == 200


def test_the_header_wins_over_the_query(client: httpx.Client, admin_key: str) -> None:
    bad_header = {"Authorization": "Bearer fdk_" + "x" * 40}
    assert client.get(KEYS, headers=bad_header, params={"apiKey": admin_key}).status_code == 401
    good_header = {"Authorization": f"Bearer {admin_key}"}
    wrong_query = {"access_token": "nope"}
    assert client.get(KEYS, headers=good_header, params=wrong_query).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        [("apiKey", "{key}"), ("apiKey", "fdk_" + "x" * 40)],
        [("apiKey", "fdk_" + "x" * 40), ("apiKey", "{key}")],
        [("access_token", "{key}"), ("access_token", "fdk_" + "y" * 40)],
        [("access_token", "fdk_" + "y" * 40), ("access_token", "{key}")],
        [("apiKey", "{key}"), ("access_token", "fdk_" + "z" * 40)],
        [("access_token", "fdk_" + "z" * 40), ("apiKey", "{key}")],
        [("apiKey", ""), ("access_token", "{key}")],
    ],
    ids=[
        "apiKey-twice-good-first",
        "apiKey-twice-good-last",
        "access_token-twice-good-first",
        "access_token-twice-good-last",
        "both-good-apiKey",
        "both-good-access_token",
        "empty-apiKey-and-access_token",
    ],
)
def test_query_keys_that_disagree_are_401(
    client: httpx.Client, admin_key: str, params: list[tuple[str, str]]
) -> None:
    sent = [(name, value.format(key=admin_key)) for name, value in params]
    response = client.get(KEYS, params=sent)
    body = assert_error(response, 401, "UNAUTHORIZED")
    assert "different keys" in body["error"]["message"]
    assert admin_key not in response.text


def test_a_query_key_repeated_with_the_same_value_authenticates(
    client: httpx.Client, admin_key: str
) -> None:
    twice = [("apiKey", admin_key), ("apiKey", admin_key), ("access_token", admin_key)]
    assert client.get(KEYS, params=twice).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer fdk_unknown"}, {"Authorization": "Basic dXNlcjpwdw=="}],
    ids=["missing", "unknown", "not-bearer"],
)
def test_missing_or_unknown_key_is_401(client: httpx.Client, headers: dict[str, str]) -> None:
    response = client.get(KEYS, headers=headers)
    assert_error(response, 401, "UNAUTHORIZED")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_every_response_carries_a_correlation_id(client: httpx.Client, api: httpx.Client) -> None:
    responses = {
        200: api.get(KEYS),
        401: client.get(KEYS),
        404: api.get("/api/public/v1/no-such-route"),
        405: api.put(KEYS, json={}),
    }
    ids = set()
    for status, response in responses.items():
        assert response.status_code == status
        assert CORRELATION_ID.match(response.headers["X-Correlation-Id"])
        ids.add(response.headers["X-Correlation-Id"])
    assert len(ids) == len(responses)
    assert_error(responses[404], 404, "NOT_FOUND")
    not_allowed = assert_error(responses[405], 405, "METHOD_NOT_ALLOWED")
    assert "PUT" in not_allowed["error"]["message"]
    assert set(responses[405].headers["Allow"].split(", ")) == {"GET", "HEAD", "POST"}


def test_a_safe_client_correlation_id_is_honoured(api: httpx.Client) -> None:
    kept = api.get(KEYS, headers={"X-Correlation-Id": "console:run-42.a_b"})
    assert kept.headers["X-Correlation-Id"] == "console:run-42.a_b"
    replaced = api.get(KEYS, headers={"X-Correlation-Id": "bad id <script>"})
    assert CORRELATION_ID.match(replaced.headers["X-Correlation-Id"])
    too_long = api.get(KEYS, headers={"X-Correlation-Id": "a" * 101})
    assert CORRELATION_ID.match(too_long.headers["X-Correlation-Id"])


def test_422_lists_every_shape_problem(api: httpx.Client) -> None:
    response = api.post(KEYS, json={"name": 7, "colour": "red", "expires_at": "soon"})
    body = assert_error(response, 422, "UNPROCESSABLE")
    fields = {problem["field"] for problem in body["errors"]}
    assert fields == {"name", "colour", "kind", "expires_at"}
    assert all(problem["code"] == "UNPROCESSABLE" for problem in body["errors"])
    infinite = api.post(
        KEYS,
        content=b'{"name": "x", "kind": "admin", "expires_at": 1e400}',
        headers={"Content-Type": "application/json"},
    )
    assert assert_error(infinite, 422, "UNPROCESSABLE")["error"]["field"] == "expires_at"
    not_object = api.post(KEYS, json=["name"])
    assert_error(not_object, 422, "UNPROCESSABLE")
    boolean_grace = api.post(f"{KEYS}/key_x/rotate", json={"grace_seconds": True})
    assert assert_error(boolean_grace, 422, "UNPROCESSABLE")["error"]["field"] == "grace_seconds"


def test_400_validation_failed_names_the_field(api: httpx.Client) -> None:
    response = api.post(KEYS, json={"name": "   ", "kind": "owner"})
    body = assert_error(response, 400, "VALIDATION_FAILED")
    assert [problem["field"] for problem in body["errors"]] == ["name", "kind"]
    key_id = api.get(KEYS).json()["data"][0]["id"]
    grace = api.post(f"{KEYS}/{key_id}/rotate", json={"grace_seconds": 604801})
    assert assert_error(grace, 400, "VALIDATION_FAILED")["error"]["field"] == "grace_seconds"


def test_non_json_content_type_is_415(api: httpx.Client) -> None:
    response = api.post(KEYS, content=b"name=x&kind=admin", headers={"Content-Type": "text/plain"})
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_unparseable_body_is_400_invalid_payload(api: httpx.Client) -> None:
    response = api.post(
        KEYS, content=b'{"name": "x",\n "kind": }', headers={"Content-Type": "application/json"}
    )
    body = assert_error(response, 400, "INVALID_PAYLOAD")
    assert "line 2" in body["error"]["message"]


def test_bad_body_without_a_key_is_still_401(client: httpx.Client) -> None:
    response = client.post(KEYS, content=b"{", headers={"Content-Type": "application/json"})
    assert_error(response, 401, "UNAUTHORIZED")


def request_crashing_route(data_dir: Path) -> httpx.Response:
    """GET a route that raises, on the app in-process (lifespan included)."""

    async def crash(request: object) -> None:
        raise RuntimeError("secret internal detail")

    app = create_app(data_dir)
    app.router.routes.append(Route("/crash", crash))

    async def scenario() -> httpx.Response:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
                return await http.get("/crash")

    # A private loop, as tests/conftest.py's run(): never replace the session's loop.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(scenario())
    finally:
        loop.close()


def test_unhandled_error_is_a_generic_500_with_correlation_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="console.sandbox"):
        response = request_crashing_route(tmp_path / "data")
    body = assert_error(response, 500, "INTERNAL")
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    assert body["correlation_id"] in caplog.text
    assert "secret internal detail" in caplog.text  # the log has the details


@pytest.mark.parametrize(
    "second", ["Bearer {other}", "Basic dXNlcjpwdw=="], ids=["two-keys", "bearer-and-basic"]
)
def test_authorization_headers_that_differ_are_401(
    client: httpx.Client, admin_key: str, mint_key: Callable[..., str], second: str
) -> None:
    other = mint_key("second-account")
    headers = [
        ("Authorization", f"Bearer {admin_key}"),
        ("Authorization", second.format(other=other)),
    ]
    for order in (headers, headers[::-1]):
        response = client.get(KEYS, headers=order)
        body = assert_error(response, 401, "UNAUTHORIZED")
        assert "differ" in body["error"]["message"]
    same = [("Authorization", f"Bearer {admin_key}")] * 2
    assert client.get(KEYS, headers=same).status_code == 200


def test_every_response_carries_a_fresh_request_id(client: httpx.Client, admin_key: str) -> None:
    """X-Request-Id (an extension; the connector logs key entries by it) on 2xx, 401, 404."""
    seen = set()
    for path, headers in (
        (KEYS, {"Authorization": f"Bearer {admin_key}"}),
        (KEYS, {}),
        ("/no/such/route", {}),
    ):
        request_id = client.get(path, headers=headers).headers["X-Request-Id"]
        assert re.fullmatch(r"req_[A-Za-z0-9]{26}", request_id)
        seen.add(request_id)
    assert len(seen) == 3


def test_a_correlation_id_that_looks_like_a_key_is_replaced(
    client: httpx.Client, admin_key: str
) -> None:
    """Correlation ids are logged and searched in full: one that starts like a key (a key
    pasted into the wrong header) is never kept, in any case."""
    for sent in ("fdk_" + "a" * 40, "IK_LIVE_" + "b" * 32, "Fdk_short"):
        response = client.get(
            KEYS, headers={"Authorization": f"Bearer {admin_key}", "X-Correlation-Id": sent}
        )
        assert CORRELATION_ID.match(response.headers["X-Correlation-Id"]), sent
