"""The server's verdict on each rule family of the definition (PLATFORM_API, Pipelines)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
import yaml

from console.definition import Catalog, minimal_example
from tests.sandbox.pipeline_support import (
    PIPELINES,
    catalog_of,
    create_pipeline,
    definition,
    error_fields,
    yaml_body,
)


def post_document(api: httpx.Client, document: dict[str, Any]) -> httpx.Response:
    """POST /pipelines with `document` as JSON."""
    return api.post(
        PIPELINES, content=json.dumps(document), headers={"Content-Type": "application/json"}
    )


def base(catalog: Catalog) -> dict[str, Any]:
    """A valid document of the account, as a plain dict to mutate."""
    document: dict[str, Any] = yaml.safe_load(definition(catalog))
    return document


def assert_refused(
    response: httpx.Response, status: int, code: str, fields: set[str | None]
) -> dict[str, Any]:
    """The error status, code (of `error` and every problem) and the set of fields."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"]["code"] == code
    assert body["errors"][0] == body["error"]
    assert all(problem["code"] == code for problem in body["errors"])
    assert error_fields(response) == fields
    return body


def test_the_documented_minimal_example_is_valid(api: httpx.Client) -> None:
    catalog = catalog_of(api)
    text = minimal_example(
        min(catalog.source_connection_ids), min(catalog.destination_connection_ids)
    )
    assert api.post(f"{PIPELINES}/validate", **yaml_body(text)).json() == {"valid": True}
    assert create_pipeline(api, text)["name"] == "Orders to warehouse"


def test_an_unknown_key_is_422_naming_its_path(api: httpx.Client) -> None:
    document = base(catalog_of(api))
    document["tables"][1]["colour"] = "red"
    response = post_document(api, document)
    body = assert_refused(response, 422, "UNPROCESSABLE", {"tables[1].colour"})
    assert "colour" in body["error"]["message"]


def test_a_missing_name_is_422(api: httpx.Client) -> None:
    document = base(catalog_of(api))
    del document["name"]
    assert_refused(post_document(api, document), 422, "UNPROCESSABLE", {"name"})


def test_a_wrong_type_is_422(api: httpx.Client) -> None:
    document = base(catalog_of(api))
    document["sync"]["frequency"] = "hourly"
    assert_refused(post_document(api, document), 422, "UNPROCESSABLE", {"sync.frequency"})


def test_include_with_exclude_is_400_on_the_tables_columns(api: httpx.Client) -> None:
    document = base(catalog_of(api))
    document["tables"][1]["columns"] = {"include": ["id"], "exclude": ["email"]}
    assert_refused(post_document(api, document), 400, "VALIDATION_FAILED", {"tables[1].columns"})


def test_an_unknown_transformation_type_is_400(api: httpx.Client) -> None:
    document = base(catalog_of(api))
    document["transformations"][0]["type"] = "uppercase_everything"
    response = post_document(api, document)
    assert_refused(response, 400, "VALIDATION_FAILED", {"transformations[0].type"})


def test_frequency_with_source_frequency_is_400(api: httpx.Client) -> None:
    document = base(catalog_of(api))
    document["sync"] = {"frequency": 60, "source_frequency": 30, "destination_frequency": 30}
    response = post_document(api, document)
    assert_refused(response, 400, "VALIDATION_FAILED", {"sync.frequency"})


@pytest.mark.parametrize(
    ("sync", "lacking"),
    [
        ({"source_frequency": 30}, "sync.destination_frequency"),
        ({"destination_frequency": 30}, "sync.source_frequency"),
    ],
)
def test_only_one_of_source_and_destination_frequency_is_400(
    api: httpx.Client, sync: dict[str, int], lacking: str
) -> None:
    document = base(catalog_of(api))
    document["sync"] = sync
    assert_refused(post_document(api, document), 400, "VALIDATION_FAILED", {lacking})
    document["sync"] = {"source_frequency": 30, "destination_frequency": 120}
    assert post_document(api, document).status_code == 201


def test_definition_version_2_is_400(api: httpx.Client) -> None:
    document = base(catalog_of(api))
    document["definition_version"] = 2
    response = post_document(api, document)
    assert_refused(response, 400, "VALIDATION_FAILED", {"definition_version"})


def test_unparseable_yaml_is_400_with_line_and_column(api: httpx.Client) -> None:
    text = definition(catalog_of(api)).replace("  - name: public.customers", "  - name: [oops")
    response = api.post(PIPELINES, **yaml_body(text))
    body = assert_refused(response, 400, "INVALID_PAYLOAD", {None})
    assert re.search(r"line \d+, column \d+", body["error"]["message"]), body
    broken_json = api.post(
        f"{PIPELINES}/validate",
        content=b'{"name": "x",\n  "tables": }',
        headers={"Content-Type": "application/json"},
    )
    assert (
        "line 2" in assert_refused(broken_json, 400, "INVALID_PAYLOAD", {None})["error"]["message"]
    )


def test_unknown_connections_and_hooks_are_400(api: httpx.Client) -> None:
    catalog = catalog_of(api)
    document = base(catalog)
    document["source"]["connection"]["id"] = 10**9
    # A destination connection is not a source: the role is checked too.
    document["destination"]["connection"]["id"] = min(catalog.source_connection_ids)
    document["hooks"][0]["id"] = 10**9
    response = post_document(api, document)
    assert_refused(
        response,
        400,
        "VALIDATION_FAILED",
        {"source.connection.id", "destination.connection.id", "hooks[0].id"},
    )


def test_another_accounts_connection_is_unknown(
    api: httpx.Client, client: httpx.Client, mint_key: Any, account: str
) -> None:
    other = {"Authorization": f"Bearer {mint_key(account + '-x')}"}
    theirs = client.get("/api/public/v1/connections", headers=other).json()["data"]
    document = base(catalog_of(api))
    document["source"]["connection"]["id"] = next(c["id"] for c in theirs if c["role"] == "source")
    response = post_document(api, document)
    assert_refused(response, 400, "VALIDATION_FAILED", {"source.connection.id"})


def test_every_problem_is_listed_with_the_deciding_class_first(api: httpx.Client) -> None:
    document = base(catalog_of(api))
    document["definition_version"] = 2
    document["tables"][1]["columns"]["include"] = ["id"]
    document["transformations"][0]["type"] = "nope"
    document["hooks"][0]["events"] = ["sync_failed", "teatime"]
    response = post_document(api, document)
    assert_refused(
        response,
        400,
        "VALIDATION_FAILED",
        {
            "definition_version",
            "tables[1].columns",
            "transformations[0].type",
            "hooks[0].events[1]",
        },
    )
    # With a shape problem too, the status is 422 and the shape problem leads.
    document["surprise"] = True
    mixed = post_document(api, document)
    assert mixed.status_code == 422
    body = mixed.json()
    assert body["error"] == {
        "code": "UNPROCESSABLE",
        "message": body["error"]["message"],
        "field": "surprise",
    }
    assert len(body["errors"]) == 5
    assert {p["code"] for p in body["errors"][1:]} == {"VALIDATION_FAILED"}


def test_replace_applies_the_same_rules(api: httpx.Client) -> None:
    catalog = catalog_of(api)
    created = create_pipeline(api, definition(catalog))
    document = base(catalog)
    document["tables"].append({"name": "public.orders"})  # a duplicate table
    for method, path in (
        ("PUT", f"{PIPELINES}/{created['id']}/definition"),
        ("POST", f"{PIPELINES}/{created['id']}/definition/validate"),
    ):
        response = api.request(
            method, path, content=json.dumps(document), headers={"Content-Type": "application/json"}
        )
        assert_refused(response, 400, "VALIDATION_FAILED", {"tables[2].name"})
    assert api.get(f"{PIPELINES}/{created['id']}").json() == created


def test_a_json_lone_surrogate_is_400_not_a_server_error(api: httpx.Client) -> None:
    text = json.dumps(base(catalog_of(api)), ensure_ascii=True).replace(
        '"name": "Orders to warehouse"', '"name": "bad \\ud83d"'
    )
    assert "\\ud83d" in text
    response = api.post(PIPELINES, content=text, headers={"Content-Type": "application/json"})
    assert_refused(response, 400, "INVALID_PAYLOAD", {None})
    assert "surrogate" in response.json()["error"]["message"]
