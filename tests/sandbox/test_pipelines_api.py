"""Pipelines over HTTP: create, list and page, read, replace with revisions, negotiation."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
import yaml

from console.definition import validate_text
from tests.sandbox.pipeline_support import (
    METADATA_FIELDS,
    PIPELINES,
    catalog_of,
    create_pipeline,
    definition,
    yaml_body,
)


def test_create_returns_draft_metadata_at_revision_1_with_etag(api: httpx.Client) -> None:
    response = api.post(PIPELINES, **yaml_body(definition(catalog_of(api), name="Nightly orders")))
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == METADATA_FIELDS
    assert (created["name"], created["status"], created["revision"]) == (
        "Nightly orders",
        "draft",
        1,
    )
    assert created["created_at"] == created["updated_at"]
    assert created["last_sync_started_at"] is None
    assert created["last_error"] is None
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == f"{PIPELINES}/{created['id']}"
    assert api.get(f"{PIPELINES}/{created['id']}").json() == created


def test_json_and_yaml_bodies_are_accepted_and_other_types_are_415(api: httpx.Client) -> None:
    text = definition(catalog_of(api))
    document = yaml.safe_load(text)
    for content_type in ("application/json", "application/json; charset=utf-8"):
        response = api.post(
            PIPELINES, content=json.dumps(document), headers={"Content-Type": content_type}
        )
        assert response.status_code == 201, response.text
    for content_type in ("application/x-yaml", "text/yaml; charset=utf-8"):
        response = api.post(PIPELINES, content=text, headers={"Content-Type": content_type})
        assert response.status_code == 201, response.text
    before = api.get(PIPELINES).json()["data"]
    for headers in ({"Content-Type": "text/plain"}, {"Content-Type": "application/xml"}, {}):
        for path in (PIPELINES, f"{PIPELINES}/validate"):
            response = api.post(path, content=text.encode(), headers=headers)
            assert response.status_code == 415, response.text
            assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    pipeline_id = before[0]["id"]
    for method, path in (
        ("PUT", f"{PIPELINES}/{pipeline_id}/definition"),
        ("POST", f"{PIPELINES}/{pipeline_id}/definition/validate"),
    ):
        response = api.request(method, path, content=text, headers={"Content-Type": "text/csv"})
        assert response.status_code == 415
    assert api.get(PIPELINES).json()["data"] == before  # nothing was created


def test_page_size_is_capped_at_100_and_120_pipelines_page_without_gaps(
    api: httpx.Client,
) -> None:
    catalog = catalog_of(api)
    created = [create_pipeline(api, definition(catalog, name=f"P{i:03}"))["id"] for i in range(120)]
    newest_first = sorted(created, reverse=True)

    capped = api.get(PIPELINES, params={"page_size": 500}).json()
    assert capped["pagination"] == {"page": 1, "page_size": 100}
    assert [item["id"] for item in capped["data"]] == newest_first[:100]

    default = api.get(PIPELINES).json()
    assert default["pagination"] == {"page": 1, "page_size": 50}
    assert len(default["data"]) == 50

    seen: list[int] = []
    page = 1
    while True:
        body = api.get(PIPELINES, params={"page": page, "page_size": 50}).json()
        assert body["pagination"] == {"page": page, "page_size": 50}
        seen += [item["id"] for item in body["data"]]
        if len(body["data"]) < 50:
            break
        page += 1
    assert page == 3
    assert seen == newest_first  # no gaps, no repeats, newest first


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": 0}, "page"),
        ({"page": -1}, "page"),
        ({"page": "two"}, "page"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": "1.5"}, "page_size"),
        ({"page": "9" * 40}, "page"),
        ({"include_archived": "maybe"}, "include_archived"),
    ],
)
def test_bad_paging_parameters_are_400_naming_the_field(
    api: httpx.Client, params: dict[str, str | int], field: str
) -> None:
    response = api.get(PIPELINES, params=params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_FAILED"
    assert response.json()["error"]["field"] == field


def test_a_page_past_the_end_is_empty(api: httpx.Client) -> None:
    create_pipeline(api, definition(catalog_of(api)))
    body = api.get(PIPELINES, params={"page": 1_000_000, "page_size": 100}).json()
    assert body == {"data": [], "pagination": {"page": 1_000_000, "page_size": 100}}


def test_definition_negotiates_yaml_and_json_with_the_revision_as_etag(api: httpx.Client) -> None:
    text = "# kept in git\n" + definition(catalog_of(api))
    pipeline_id = create_pipeline(api, text)["id"]
    path = f"{PIPELINES}/{pipeline_id}/definition"

    as_yaml = api.get(path, headers={"Accept": "application/yaml"})
    assert as_yaml.status_code == 200
    assert as_yaml.headers["content-type"] == "application/yaml; charset=utf-8"
    assert as_yaml.text == text  # the YAML as sent, comment included
    assert as_yaml.headers["ETag"] == '"1"'

    document = yaml.safe_load(text)
    for accept in (None, "application/json", "*/*", "text/html", "application/yaml;q=0.5, */*"):
        headers = {} if accept is None else {"Accept": accept}
        as_json = api.get(path, headers=headers)
        assert as_json.headers["content-type"] == "application/json; charset=utf-8", accept
        assert as_json.json() == document
        assert list(as_json.json()) == list(document)  # the order it was written in
        assert as_json.headers["ETag"] == '"1"'
    for accept in ("text/yaml", "application/x-yaml", "application/json;q=0.1, text/yaml"):
        response = api.get(path, headers={"Accept": accept})
        assert response.headers["content-type"] == "application/yaml; charset=utf-8", accept

    # A JSON-created pipeline converts to YAML on request.
    json_id = api.post(
        PIPELINES, content=json.dumps(document), headers={"Content-Type": "application/json"}
    ).json()["id"]
    converted = api.get(f"{PIPELINES}/{json_id}/definition", headers={"Accept": "text/yaml"})
    assert yaml.safe_load(converted.text) == document
    assert validate_text(converted.text, format="yaml").valid


def test_reapplying_the_same_document_changes_nothing(api: httpx.Client) -> None:
    catalog = catalog_of(api)
    text = definition(catalog)
    created = create_pipeline(api, text)
    path = f"{PIPELINES}/{created['id']}/definition"
    # The same document in another format and key order is still the same document.
    document = yaml.safe_load(text)
    reordered = json.dumps(dict(reversed(list(document.items()))))
    for body in (
        yaml_body(text),
        {"content": reordered, "headers": {"Content-Type": "application/json"}},
    ):
        response = api.put(path, **body)
        assert response.status_code == 200, response.text
        assert response.json() == created
        assert response.headers["ETag"] == '"1"'
    assert api.get(f"{PIPELINES}/{created['id']}").json()["updated_at"] == created["updated_at"]

    changed = api.put(path, **yaml_body(definition(catalog, name="Renamed", frequency=30)))
    assert changed.status_code == 200
    meta = changed.json()
    assert (meta["revision"], meta["name"]) == (2, "Renamed")
    assert meta["updated_at"] >= created["updated_at"]
    assert changed.headers["ETag"] == '"2"'
    assert api.get(path).headers["ETag"] == '"2"'
    assert api.get(path).json()["sync"] == {"frequency": 30}


def test_if_match_with_a_stale_revision_is_412(api: httpx.Client) -> None:
    catalog = catalog_of(api)
    pipeline_id = create_pipeline(api, definition(catalog))["id"]
    path = f"{PIPELINES}/{pipeline_id}/definition"
    first = api.put(
        path,
        content=definition(catalog, name="Edit A"),
        headers={"Content-Type": "application/yaml", "If-Match": '"1"'},
    )
    assert first.status_code == 200
    assert first.json()["revision"] == 2

    stale = api.put(
        path,
        content=definition(catalog, name="Edit B"),
        headers={"Content-Type": "application/yaml", "If-Match": '"1"'},
    )
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "PRECONDITION_FAILED"
    assert "revision 2" in stale.json()["error"]["message"]
    assert api.get(f"{PIPELINES}/{pipeline_id}").json()["name"] == "Edit A"

    for revision, accepted_tag in ((2, "2"), (3, 'W/"3"'), (4, "*")):
        response = api.put(
            path,
            content=definition(catalog, name=f"Edit {revision}"),
            headers={"Content-Type": "application/yaml", "If-Match": accepted_tag},
        )
        assert response.status_code == 200, accepted_tag
        assert response.json()["revision"] == revision + 1


def test_a_412_echoes_at_most_100_characters_of_if_match(api: httpx.Client) -> None:
    catalog = catalog_of(api)
    pipeline_id = create_pipeline(api, definition(catalog))["id"]
    huge = '"' + "7" * 5000 + '"'
    response = api.put(
        f"{PIPELINES}/{pipeline_id}/definition",
        content=definition(catalog, name="Edit"),
        headers={"Content-Type": "application/yaml", "If-Match": huge},
    )
    assert response.status_code == 412
    assert "7" * 101 not in response.text
    assert len(response.content) < 1000


def test_validate_routes_store_nothing(api: httpx.Client) -> None:
    catalog = catalog_of(api)
    text = definition(catalog)
    valid = api.post(f"{PIPELINES}/validate", **yaml_body(text))
    assert (valid.status_code, valid.json()) == (200, {"valid": True})
    assert api.get(PIPELINES).json()["data"] == []
    created = create_pipeline(api, text)
    check = api.post(
        f"{PIPELINES}/{created['id']}/definition/validate",
        **yaml_body(definition(catalog, name="Other")),
    )
    assert (check.status_code, check.json()) == (200, {"valid": True})
    assert api.get(f"{PIPELINES}/{created['id']}").json() == created


def test_another_accounts_pipeline_is_404_on_every_route(
    api: httpx.Client, client: httpx.Client, mint_key: Callable[..., str], account: str
) -> None:
    text = definition(catalog_of(api))
    theirs = create_pipeline(api, text)["id"]
    other = {"Authorization": f"Bearer {mint_key(account + '-other')}"}
    unknown = 10**17
    for pipeline_id in (theirs, unknown):
        one = f"{PIPELINES}/{pipeline_id}"
        requests = [
            ("GET", one, {}),
            ("DELETE", one, {}),
            ("GET", f"{one}/definition", {}),
            ("PUT", f"{one}/definition", yaml_body(text)),
            ("POST", f"{one}/definition/validate", yaml_body(text)),
            ("POST", f"{one}/start", {}),
            ("POST", f"{one}/stop", {}),
            ("POST", f"{one}/stop?force=true", {}),
        ]
        for method, path, body in requests:
            kwargs = dict(body)
            kwargs["headers"] = {**other, **kwargs.get("headers", {})}
            response = client.request(method, path, **kwargs)
            assert response.status_code == 404, (method, path)
            assert response.json()["error"] == {
                "code": "NOT_FOUND",
                "message": "Pipeline not found.",
                "field": None,
            }
    assert client.get(PIPELINES, headers=other).json()["data"] == []
    assert api.get(f"{PIPELINES}/{theirs}").json()["status"] == "draft"  # untouched


def test_pipelines_need_an_admin_key(client: httpx.Client) -> None:
    response = client.post(PIPELINES, content=b"{", headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert client.get(f"{PIPELINES}/1/definition").status_code == 401


def test_demo_account_has_valid_pipelines_in_varied_states(
    client: httpx.Client, mint_key: Callable[..., str]
) -> None:
    demo = {"Authorization": f"Bearer {mint_key('demo')}"}
    with httpx.Client(base_url=str(client.base_url), headers=demo, timeout=10) as api:
        listed = api.get(PIPELINES, params={"include_archived": "true"}).json()["data"]
        statuses = {item["status"] for item in listed}
        # Running ones may be mid-sync; every other state is as seeded.
        assert {"running", "stopped", "draft", "failed", "archived"} <= statuses
        assert "archived" not in {item["status"] for item in api.get(PIPELINES).json()["data"]}
        failed = next(item for item in listed if item["status"] == "failed")
        assert failed["last_error"]
        catalog = catalog_of(api)
        for item in listed:
            text = api.get(
                f"{PIPELINES}/{item['id']}/definition", headers={"Accept": "application/yaml"}
            ).text
            assert validate_text(text, format="yaml", catalog=catalog).valid, text


def test_oversized_and_non_utf8_bodies_and_archived_replace_are_refused(
    api: httpx.Client,
) -> None:
    text = definition(catalog_of(api))
    huge = api.post(PIPELINES, **yaml_body(text + "#" * (1024 * 1024)))
    assert (huge.status_code, huge.json()["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    latin1 = api.post(
        PIPELINES, content="name: Café".encode("latin-1"), headers={"Content-Type": "text/yaml"}
    )
    assert (latin1.status_code, latin1.json()["error"]["code"]) == (400, "INVALID_PAYLOAD")
    pipeline_id = create_pipeline(api, text)["id"]
    assert api.delete(f"{PIPELINES}/{pipeline_id}").json()["status"] == "archived"
    replaced = api.put(f"{PIPELINES}/{pipeline_id}/definition", **yaml_body(text + "# x\n"))
    assert (replaced.status_code, replaced.json()["error"]["code"]) == (409, "CONFLICT")
    # An invalid body changes nothing: archived is the answer that matters.
    broken = api.put(f"{PIPELINES}/{pipeline_id}/definition", **yaml_body(text + "colour: x\n"))
    assert (broken.status_code, broken.json()["error"]["code"]) == (409, "CONFLICT")


def test_a_comment_only_edit_is_kept_without_a_new_revision(api: httpx.Client) -> None:
    text = definition(catalog_of(api))
    created = create_pipeline(api, text)
    path = f"{PIPELINES}/{created['id']}/definition"
    commented = "# owned by the data platform team\n" + text
    response = api.put(path, **yaml_body(commented))
    assert response.status_code == 200
    assert response.json()["revision"] == 1
    assert response.json()["updated_at"] == created["updated_at"]
    served = api.get(path, headers={"Accept": "application/yaml"}).text
    assert served.startswith("# owned by the data platform team\n")
