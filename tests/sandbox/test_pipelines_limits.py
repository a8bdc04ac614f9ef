"""Every limit of a definition on the server's four definition routes, in YAML and JSON,
and the ranges of the keys and paging numbers (docs/api.md; issue 10, A.2, A.3, A.11).

Nothing refused is stored, and whatever the offline linter accepts, the server accepts.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from console.definition import Catalog, validate_text
from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import mint_key
from tests.definition.limit_cases import BAD_CASES, GOOD_CASES, Case
from tests.sandbox.pipeline_support import PIPELINES, catalog_of, create_pipeline, definition

KEYS = "/api/public/v1/keys"
FEEDS = "/api/public/v1/feeds"
YEAR_10000 = 253_402_300_800
MEDIA_TYPES = {"yaml": "application/yaml", "json": "application/json"}


def _send(api: httpx.Client, route: str, pipeline_id: int, case: Case, text: str) -> httpx.Response:
    headers = {"Content-Type": MEDIA_TYPES[case.format]}
    body = text.encode()
    if route == "create":
        return api.post(PIPELINES, content=body, headers=headers)
    if route == "validate":
        return api.post(f"{PIPELINES}/validate", content=body, headers=headers)
    if route == "replace":
        return api.put(f"{PIPELINES}/{pipeline_id}/definition", content=body, headers=headers)
    return api.post(f"{PIPELINES}/{pipeline_id}/definition/validate", content=body, headers=headers)


def _case_text(case: Case, catalog: Catalog) -> str:
    return case.text(min(catalog.source_connection_ids), min(catalog.destination_connection_ids))


def assert_contract_error(response: httpx.Response, case: Case) -> dict[str, Any]:
    """The case's status and code, the contract's error body, the leading field."""
    assert response.status_code == case.status, response.text[:500]
    body: dict[str, Any] = response.json()
    assert set(body) == {"success", "error", "errors", "correlation_id"}
    assert body["success"] is False
    assert body["correlation_id"] == response.headers["X-Correlation-Id"]
    assert body["errors"][0] == body["error"]
    assert body["error"]["code"] == case.code
    assert body["error"]["field"] == case.field
    if case.field is None:  # a parse error says where
        assert body["error"]["message"].startswith("line ")
        assert ", column " in body["error"]["message"]
    return body


@dataclass(frozen=True)
class Account:
    """One account for the refusal tests: none of them may change it."""

    api: httpx.Client
    catalog: Catalog
    pipeline: dict[str, Any]


@pytest.fixture(scope="module")
def account_with_a_pipeline(sandbox: SandboxProcess) -> Iterator[Account]:
    """A fresh account holding one pipeline at revision 1 (shared: refusals store nothing)."""
    key = mint_key(sandbox.data_dir, account=f"acct-{uuid.uuid4().hex[:12]}", kind="admin")
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=sandbox.base_url or "", headers=headers, timeout=30) as api:
        catalog = catalog_of(api)
        yield Account(api, catalog, create_pipeline(api, definition(catalog)))


@pytest.mark.parametrize("route", ["create", "validate", "replace", "validate-replacement"])
@pytest.mark.parametrize("case", BAD_CASES, ids=lambda case: case.id)
def test_each_bad_definition_is_refused_on_every_route_and_nothing_is_stored(
    account_with_a_pipeline: Account, route: str, case: Case
) -> None:
    api, existing = account_with_a_pipeline.api, account_with_a_pipeline.pipeline
    text = _case_text(case, account_with_a_pipeline.catalog)
    assert_contract_error(_send(api, route, existing["id"], case, text), case)
    if route in ("create", "replace"):
        listed = api.get(PIPELINES).json()["data"]
        assert [(p["id"], p["revision"]) for p in listed] == [(existing["id"], 1)]
        stored = api.get(f"{PIPELINES}/{existing['id']}/definition").json()
        assert stored["name"] == existing["name"]


@pytest.mark.parametrize("case", BAD_CASES + GOOD_CASES, ids=lambda case: case.id)
def test_what_the_linter_accepts_the_server_accepts_and_what_it_refuses_the_server_refuses(
    api: httpx.Client, case: Case
) -> None:
    """These limits need no catalogue: the offline linter's verdict is the server's."""
    catalog = catalog_of(api)
    text = _case_text(case, catalog)
    linted = validate_text(text, format=case.format)  # what `validate FILE` runs
    response = _send(api, "validate", 0, case, text)
    assert linted.valid == (response.status_code == 200), response.text[:300]
    if not linted.valid:
        assert (response.status_code, response.json()["error"]["code"]) == (
            linted.http_status,
            linted.http_code,
        )


_NUMBER_LITERALS = st.one_of(
    st.integers(-(10**25), 10**25).map(str),
    st.integers(0, 10**6).map(lambda n: str(n * 525_600 // 10**6)),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(0, 5000).map(lambda n: "0x" + "f" * n),
    st.integers(0, 300).map(lambda n: "0" * n + "60"),
    st.integers(1, 200).map(lambda n: "1:" * n + "1"),
    st.sampled_from([".inf", "-.inf", ".nan", "NaN", "Infinity", "1e400", "-1e400", "1.0e+400"]),
)


@settings(max_examples=60, deadline=None, database=None)
@given(
    fmt=st.sampled_from(["yaml", "json"]),
    where=st.sampled_from(["frequency", "x"]),
    literal=_NUMBER_LITERALS,
)
def test_property_whatever_the_linter_accepts_the_server_accepts(
    account_with_a_pipeline: Account, fmt: str, where: str, literal: str
) -> None:
    case = Case("drawn", fmt, **{where: literal})  # type: ignore[arg-type]
    text = _case_text(case, account_with_a_pipeline.catalog)
    linted = validate_text(text, format=case.format)
    response = _send(account_with_a_pipeline.api, "validate", 0, case, text)
    event(f"{fmt} {where} {response.status_code}")
    assert response.status_code != 500
    assert (response.status_code == 200) == linted.valid, text[:300]
    if not linted.valid:
        assert response.status_code == linted.http_status


@pytest.mark.parametrize("case", GOOD_CASES, ids=lambda case: case.id)
def test_a_definition_at_the_limits_is_stored_and_served_as_strict_json(
    api: httpx.Client, case: Case
) -> None:
    catalog = catalog_of(api)
    response = _send(api, "create", 0, case, _case_text(case, catalog))
    assert response.status_code == 201, response.text[:300]
    served = api.get(f"{PIPELINES}/{response.json()['id']}/definition")
    document = json.loads(served.text, parse_constant=pytest.fail)
    assert document["name"] == case.name
    x = document["transformations"][0]["config"]["x"]
    assert not isinstance(x, float) or math.isfinite(x)


# Keys: expires_at and grace_seconds.


@pytest.mark.parametrize(
    ("expires_at", "status", "code"),
    [
        (YEAR_10000, 400, "VALIDATION_FAILED"),
        (1e300, 400, "VALIDATION_FAILED"),
        (10**400, 422, "UNPROCESSABLE"),  # an int with no finite float: as 1e400
        (1.0, 400, "VALIDATION_FAILED"),  # in the past
        ("1e400", 422, "UNPROCESSABLE"),  # parses to infinity: not a number
    ],
)
def test_expires_at_must_be_a_finite_future_time_before_the_year_10000(
    api: httpx.Client, expires_at: Any, status: int, code: str
) -> None:
    raw = expires_at if isinstance(expires_at, str) else json.dumps(expires_at)
    body = '{"name": "k", "kind": "admin", "expires_at": ' + raw + "}"
    response = api.post(KEYS, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["field"] == "expires_at"
    assert all(key["name"] != "k" for key in api.get(KEYS).json()["data"])


def test_an_expiry_just_before_the_year_10000_is_kept_and_its_rotation_stays_in_range(
    api: httpx.Client,
) -> None:
    response = api.post(KEYS, json={"name": "k", "kind": "admin", "expires_at": YEAR_10000 - 1})
    assert response.status_code == 201, response.text
    assert response.json()["expires_at"] == YEAR_10000 - 1
    rotated = api.post(f"{KEYS}/{response.json()['id']}/rotate", json={"grace_seconds": 0})
    assert rotated.status_code == 201, rotated.text
    assert rotated.json()["expires_at"] < YEAR_10000


@pytest.mark.parametrize(
    ("grace", "status", "code"),
    [
        ("-1", 400, "VALIDATION_FAILED"),
        ("604801", 400, "VALIDATION_FAILED"),
        (str(10**30), 400, "VALIDATION_FAILED"),
        ("1e400", 422, "UNPROCESSABLE"),
        ("1.5", 422, "UNPROCESSABLE"),
        ("604800", 201, None),
        ("0", 201, None),
    ],
)
def test_grace_seconds_is_0_to_604800(
    api: httpx.Client, grace: str, status: int, code: str | None
) -> None:
    key_id = api.post(KEYS, json={"name": "old", "kind": "admin"}).json()["id"]
    response = api.post(
        f"{KEYS}/{key_id}/rotate",
        content='{"grace_seconds": ' + grace + "}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["field"] == "grace_seconds"


# Paging: limit (keys, feeds), page and page_size (pipelines).


@pytest.mark.parametrize("path", [KEYS, FEEDS])
@pytest.mark.parametrize("value", ["0", "-1", "1000001", str(10**30), "1e3", "NaN", "x"])
def test_limit_is_1_to_1000000(api: httpx.Client, path: str, value: str) -> None:
    response = api.get(path, params={"limit": value})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == {
        "code": "VALIDATION_FAILED",
        "message": response.json()["error"]["message"],
        "field": "limit",
    }
    assert "1,000,000" in response.json()["error"]["message"]


@pytest.mark.parametrize("path", [KEYS, FEEDS])
def test_the_largest_limit_is_served_at_the_cap(api: httpx.Client, path: str) -> None:
    response = api.get(path, params={"limit": "1000000"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "params",
    [
        {"page": "0"},
        {"page": "1000001"},
        {"page": str(10**20)},
        {"page": "NaN"},
        {"page_size": "0"},
        {"page_size": "1000001"},
        {"page_size": "Infinity"},
    ],
)
def test_page_and_page_size_are_1_to_1000000(api: httpx.Client, params: dict[str, str]) -> None:
    (field,) = params
    response = api.get(PIPELINES, params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_FAILED"
    assert response.json()["error"]["field"] == field


def test_the_largest_page_and_page_size_are_served(api: httpx.Client) -> None:
    response = api.get(PIPELINES, params={"page": "1000000", "page_size": "1000000"})
    assert response.status_code == 200, response.text
    assert response.json() == {"data": [], "pagination": {"page": 1_000_000, "page_size": 100}}


def test_the_openapi_document_states_every_range(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    paths, schemas = document["paths"], document["components"]["schemas"]

    def parameter(path: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = next(
            p["schema"] for p in paths[path]["get"]["parameters"] if p["name"] == name
        )
        return found

    for path, name in ((KEYS, "limit"), (FEEDS, "limit"), (PIPELINES, "page")):
        assert (parameter(path, name)["minimum"], parameter(path, name)["maximum"]) == (
            1,
            1_000_000,
        )
    assert parameter(PIPELINES, "page_size")["maximum"] == 1_000_000
    assert schemas["CreateKey"]["properties"]["expires_at"]["exclusiveMaximum"] == YEAR_10000
    grace = schemas["RotateKey"]["properties"]["grace_seconds"]
    assert (grace["minimum"], grace["maximum"]) == (0, 604_800)
    body = paths[PIPELINES]["post"]["requestBody"]["content"]["application/yaml"]["schema"]
    for key in ("frequency", "source_frequency", "destination_frequency"):
        frequency = body["properties"]["sync"]["properties"][key]
        assert (frequency["minimum"], frequency["maximum"]) == (1, 525_600)


@pytest.mark.parametrize(
    ("path", "name", "values"),
    [
        (KEYS, "limit", ["1", "2"]),
        (FEEDS, "cursor", ["", "x"]),
        (PIPELINES, "page", ["1", "2"]),
        (PIPELINES, "page_size", ["5", "10"]),
        (PIPELINES, "include_archived", ["true", "false"]),
    ],
)
def test_a_paging_parameter_given_twice_differently_is_400(
    api: httpx.Client, path: str, name: str, values: list[str]
) -> None:
    response = api.get(path, params=[(name, value) for value in values])
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == name
    same = api.get(path, params=[(name, values[0])] * 2)
    assert same.status_code == 200, same.text
