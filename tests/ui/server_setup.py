"""Put keys and pipelines on the sandbox through the API layer, before a GUI test looks."""

from __future__ import annotations

import json

from console.api.catalog import CatalogApi
from console.api.keys import ApiKey, KeysApi
from console.api.pipelines import Pipeline, PipelinesApi
from console.api.transport import ApiClient
from console.definition import minimal_example
from tests.conftest import run


def create_pipelines(url: str, key: str, names: list[str]) -> list[Pipeline]:
    """One draft pipeline per name (the minimal example with the account's connections)."""

    async def create() -> list[Pipeline]:
        client = ApiClient(url, key)
        try:
            connections = await CatalogApi(client).connections()
            example = minimal_example(
                min(c.id for c in connections if c.role == "source"),
                min(c.id for c in connections if c.role == "destination"),
            )
            api = PipelinesApi(client)
            created = []
            for name in names:
                text = example.replace("name: Orders to warehouse", f"name: {json.dumps(name)}")
                created.append(await api.create(text))
            return created
        finally:
            await client.aclose()

    return run(create())


def create_keys(url: str, key: str, names: list[str]) -> list[ApiKey]:
    """One admin key per name."""

    async def create() -> list[ApiKey]:
        client = ApiClient(url, key)
        try:
            api = KeysApi(client)
            return [(await api.create(name, "admin")).key for name in names]
        finally:
            await client.aclose()

    return run(create())
