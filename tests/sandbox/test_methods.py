"""Every route answers a method it does not take with 405 and an `Allow` header."""

from __future__ import annotations

import re

import httpx
import pytest

from console.sandbox.openapi import DOCUMENT

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
# A value for each path parameter that is well-formed for its route.
SAMPLE_PARAMETERS = {
    "key_id": "key_" + "a" * 24,
    "pipeline_id": "1",
    "feed_id": "orders",
    "guid": "0190b2c4-0000-7000-8000-000000000000",
    "intent": "upsert",
    "correlation_id": "corr_" + "a" * 26,
    "import_id": "imp_" + "a" * 24,
    "request_id": "req_" + "a" * 26,
    "any_id": "corr_" + "a" * 26,
}


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda match: SAMPLE_PARAMETERS[match.group(1)], path)


def allowed_methods(operations: dict[str, object]) -> set[str]:
    allowed = {method.upper() for method in operations}
    return allowed | {"HEAD"} if "GET" in allowed else allowed


WRONG = [
    (path, method, allowed_methods(operations))
    for path, operations in DOCUMENT["paths"].items()
    for method in METHODS
    if method not in allowed_methods(operations)
]


@pytest.mark.parametrize(("path", "method", "allowed"), WRONG)
def test_a_method_a_route_does_not_take_is_405_with_allow(
    client: httpx.Client, path: str, method: str, allowed: set[str]
) -> None:
    response = client.request(method, concrete(path))
    assert response.status_code == 405, response.text
    assert response.headers["Allow"] == ", ".join(sorted(allowed))
    if method != "HEAD":
        error = response.json()["error"]
        assert error["code"] == "METHOD_NOT_ALLOWED"
        assert method in error["message"]


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT"])
def test_a_post_only_route_beside_a_parameterised_one_is_405_with_a_key(
    api: httpx.Client, method: str
) -> None:
    # /pipelines/{pipeline_id} also matches /pipelines/validate by its shape.
    response = api.request(method, "/api/public/v1/pipelines/validate")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_every_route_is_checked() -> None:
    assert len({path for path, _, _ in WRONG}) == len(DOCUMENT["paths"])
