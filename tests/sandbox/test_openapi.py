"""The hand-written OpenAPI document stays in step with the app's routes."""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from console.sandbox.http.openapi_schemas import CURSOR_PATTERN
from console.sandbox.http.pagination import encode_cursor, parse_page
from console.sandbox.openapi import DOCUMENT
from console.sandbox.server import create_app


def test_document_and_routes_name_the_same_paths_and_methods(tmp_path: Path) -> None:
    app = create_app(tmp_path)
    routed = set()
    for route in app.routes:
        assert isinstance(route, Route)
        assert route.methods is not None
        routed |= {(route.path, method.lower()) for method in route.methods - {"HEAD"}}
    documented = {
        (path, method) for path, operations in DOCUMENT["paths"].items() for method in operations
    }
    assert routed == documented


def test_document_is_served_without_a_key(client: httpx.Client) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.1")
    assert response.json() == DOCUMENT


@settings(max_examples=100, deadline=None)
@given(st.from_regex(CURSOR_PATTERN, fullmatch=True))
def test_every_cursor_the_document_allows_is_one_the_server_takes(cursor: str) -> None:
    assert parse_page({"cursor": cursor}).limit == 100


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=10**18 - 1))
def test_every_cursor_the_server_issues_matches_the_document(position: int) -> None:
    assert re.fullmatch(CURSOR_PATTERN, encode_cursor(position))


@pytest.mark.parametrize("digits", [19, 4_301, 5_000])
def test_a_cursor_with_too_many_digits_is_400_not_500(api: httpx.Client, digits: int) -> None:
    cursor = base64.urlsafe_b64encode(b"v1:" + b"9" * digits).decode().rstrip("=")
    assert not re.fullmatch(CURSOR_PATTERN, cursor)
    response = api.get("/api/public/v1/keys", params={"cursor": cursor})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == "cursor"


def test_the_document_states_the_rules_a_schema_can_carry() -> None:
    keys = DOCUMENT["paths"]["/api/public/v1/keys"]
    limit, cursor = keys["get"]["parameters"]
    assert limit["schema"]["maximum"] == 1_000_000
    assert "capped at 1000" in limit["description"]
    assert cursor["schema"]["pattern"] == CURSOR_PATTERN
    pipelines = DOCUMENT["paths"]["/api/public/v1/pipelines"]["get"]["parameters"]
    page_size = next(p for p in pipelines if p["name"] == "page_size")
    assert "capped at 100" in page_size["description"]
    feed = DOCUMENT["components"]["schemas"]["CreateFeed"]["properties"]["id_field"]
    assert (feed["minLength"], feed["maxLength"]) == (1, 100)
    # The pattern's "not all whitespace" is exactly what str.strip() leaves something of.
    spaces = [chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()]
    assert not any(re.search(feed["pattern"], space) for space in spaces)
    assert re.search(feed["pattern"], "\ufeff")  # not stripped, so a name on its own
    definition = DOCUMENT["paths"]["/api/public/v1/pipelines"]["post"]["requestBody"]
    schema = definition["content"]["application/json"]["schema"]
    assert set(schema["required"]) >= {"definition_version", "name", "tables"}
    for path in ("/api/public/v1/keys/{key_id}", "/api/public/v1/pipelines/{pipeline_id}"):
        assert "stay" in DOCUMENT["paths"][path]["delete"]["description"]


def test_the_document_is_rendered_once_per_app_however_often_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every connect reads it (capability discovery): ~160 KB rendered once, not each time."""
    import asyncio

    from console.sandbox import openapi

    rendered: list[object] = []
    document_for = openapi.document_for

    def counting(routes: object) -> object:
        rendered.append(routes)
        return document_for(routes)  # type: ignore[arg-type]

    monkeypatch.setattr(openapi, "document_for", counting)
    app = create_app(tmp_path)

    async def read_thrice() -> list[bytes]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            return [(await client.get("/openapi.json")).content for _ in range(3)]

    bodies = asyncio.run(read_thrice())
    assert len(rendered) == 1
    assert bodies[0] == bodies[1] == bodies[2]
    assert httpx.Response(200, content=bodies[0]).json() == DOCUMENT
