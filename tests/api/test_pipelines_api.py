"""The pipelines module of the API layer against the real sandbox server."""

from __future__ import annotations

import pytest

from console.api.catalog import CatalogApi
from console.api.errors import ApiError
from console.api.pipelines import PipelinesApi, parse_etag
from console.api.transport import ApiClient
from console.definition import dump_json, minimal_example, validate_text
from tests.conftest import run


def test_parse_etag_accepts_the_usual_forms() -> None:
    assert parse_etag('"3"') == 3
    assert parse_etag('W/"12"') == 12
    assert parse_etag("7") == 7
    assert parse_etag(None) is None
    assert parse_etag('"abc"') is None


async def account_example(client: ApiClient) -> str:
    """The documented minimal example with the account's own connections."""
    connections = await CatalogApi(client).connections()
    source = min(c.id for c in connections if c.role == "source")
    destination = min(c.id for c in connections if c.role == "destination")
    return minimal_example(source, destination)


def test_create_read_replace_with_revisions(sandbox_url: str, admin_key: str) -> None:
    async def scenario() -> None:
        client = ApiClient(sandbox_url, admin_key)
        api = PipelinesApi(client)
        try:
            example = await account_example(client)
            created = await api.create(example)
            assert created.status == "draft"
            assert created.revision == 1
            yaml_definition = await api.get_definition(created.id, format="yaml")
            assert yaml_definition.revision == 1
            assert validate_text(yaml_definition.text).valid
            json_definition = await api.get_definition(created.id, format="json")
            assert json_definition.text.lstrip().startswith("{")

            same = await api.replace_definition(created.id, yaml_definition.text, if_match=1)
            assert same.revision == 1  # re-applying the same document is a no-op
            assert same.updated_at == created.updated_at

            document = validate_text(example).document
            assert document is not None
            document["name"] = "Renamed by the test"
            updated = await api.replace_definition(
                created.id, dump_json(document), format="json", if_match=1
            )
            assert updated.revision == 2
            assert updated.name == "Renamed by the test"

            with pytest.raises(ApiError) as stale:
                await api.replace_definition(created.id, example, if_match=1)
            assert stale.value.status == 412

            listed = await api.list_all()
            assert [p.id for p in listed] == [created.id]
        finally:
            await client.aclose()

    run(scenario())


def test_validate_lists_every_problem_with_fields(sandbox_url: str, admin_key: str) -> None:
    async def scenario() -> ApiError:
        client = ApiClient(sandbox_url, admin_key)
        try:
            example = await account_example(client)
            broken = example + "colour: blue\nowner: me\n"
            await PipelinesApi(client).validate(example)  # valid: no error
            with pytest.raises(ApiError) as caught:
                await PipelinesApi(client).validate(broken)
            return caught.value
        finally:
            await client.aclose()

    error = run(scenario())
    assert error.status == 422
    assert {p.field for p in error.problems} == {"colour", "owner"}


def test_lifecycle_start_and_archive(sandbox_url: str, admin_key: str) -> None:
    async def scenario() -> None:
        client = ApiClient(sandbox_url, admin_key)
        api = PipelinesApi(client)
        try:
            example = await account_example(client)
            created = await api.create(example)
            started = await api.start(created.id)
            assert started.status in ("deploying", "running")
            archived = await api.archive(created.id)
            assert archived.status == "archived"
            assert created.id not in {p.id for p in await api.list_all()}
            assert created.id in {p.id for p in await api.list_all(include_archived=True)}
            with pytest.raises(ApiError) as caught:
                await api.start(created.id)
            assert caught.value.status == 409
        finally:
            await client.aclose()

    run(scenario())
