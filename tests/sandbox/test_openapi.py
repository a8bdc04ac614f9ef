"""The hand-written OpenAPI document stays in step with the app's routes."""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.routing import Route

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
