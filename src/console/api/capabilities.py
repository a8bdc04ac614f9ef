"""What a server offers of the platform contract.

The sandbox offers every part; a real service offers only some (an Integrate.io account:
keys and pipelines; a Frontic ingest host: the intents; an Inspire connector: /api/ingest).
The console learns it on connect (`discover`, from /openapi.json where the server publishes
one, else by probing the documented routes) and each tab says plainly what is not offered.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from console.api.errors import ApiError
from console.api.transport import ApiClient

# The parts of the contract, as tabs and actions need them.
PARTS = ("keys", "pipelines", "feeds", "records", "intents", "ingest", "logs")


@dataclass(frozen=True)
class Capabilities:
    """The parts of the contract one server offers, and how that was learnt."""

    parts: frozenset[str]
    source: str = "assumed"  # "openapi", "probe" or "assumed" (nothing learnt yet)

    def offers(self, part: str) -> bool:
        """Whether the server offers `part` (one of PARTS)."""
        if part not in PARTS:
            raise ValueError(f"unknown part {part!r}")
        return part in self.parts


EVERYTHING = Capabilities(frozenset(PARTS))


# -- discovery -------------------------------------------------------------------------

# Where a server publishes its OpenAPI document (the sandbox does, without a key).
OPENAPI_PATH = "/openapi.json"
# A document bigger than this is not read as one (a server's description, not data).
MAX_OPENAPI_BYTES = 8 * 1024 * 1024
# Which part a documented path belongs to: the first pattern that matches wins (records
# and imports live under a feed, so they come before the feeds themselves).
PART_PATHS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("records", re.compile(r"^/api/public/v1/feeds/[^/]+/(records|imports)(/|$)")),
    ("feeds", re.compile(r"^/api/public/v1/feeds(/[^/]+)?/?$")),
    ("keys", re.compile(r"^/api/public/v1/keys(/|$)")),
    ("pipelines", re.compile(r"^/api/public/v1/pipelines(/|$)")),
    ("intents", re.compile(r"^/(ingest/|api/public/v1/intents/)")),
    ("ingest", re.compile(r"^/api/ingest/?$")),
    ("logs", re.compile(r"^/api/public/v1/(logs|trace)(/|$)")),
)
# One cheap GET per part, without side effects: a server offering the part answers it
# with 200, 401, 403, 405 or its own 404 (FEED_NOT_FOUND for a feed that does not
# exist); one that does not offer it answers 404 NOT_FOUND, as for any unknown path.
PROBE_FEED = "capability-probe"
PROBES: dict[str, tuple[str, dict[str, int]]] = {
    "keys": ("/api/public/v1/keys", {"limit": 1}),
    "pipelines": ("/api/public/v1/pipelines", {"page_size": 1}),
    "feeds": ("/api/public/v1/feeds", {"limit": 1}),
    "records": (f"/api/public/v1/feeds/{PROBE_FEED}/records", {"limit": 1}),
    "intents": (f"/ingest/{PROBE_FEED}/upsert", {}),  # POST-only: GET is 405
    "ingest": ("/api/ingest", {}),  # POST-only: GET is 405
    "logs": ("/api/public/v1/logs", {"limit": 1}),
}
# An authenticated read per part, to try a key before switching to a new server: the
# first part offered in this order is asked (intents and /api/ingest have no such read).
TRIAL_READS: tuple[tuple[str, str, dict[str, int]], ...] = (
    ("keys", "/api/public/v1/keys", {"limit": 1}),
    ("pipelines", "/api/public/v1/pipelines", {"page_size": 1}),
    ("feeds", "/api/public/v1/feeds", {"limit": 1}),
    ("logs", "/api/public/v1/logs", {"limit": 1}),
)
# What each part is called in sentences ("This server does not offer records.").
PART_TITLES = {
    "keys": "API keys",
    "pipelines": "pipelines",
    "feeds": "feeds",
    "records": "records",
    "intents": "ingest intents (/ingest)",
    "ingest": "stream ingestion (/api/ingest)",
    "logs": "connector logs",
}


def parts_from_openapi(document: Any) -> frozenset[str] | None:
    """The parts an OpenAPI document's paths cover; None when it is not such a document.

    A path relative to the document's first server URL (`/pipelines` under a server
    `https://host/api/public/v1`) counts as that URL's path plus its own.
    """
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        return None
    prefix = ""
    servers = document.get("servers")
    if isinstance(servers, list) and servers and isinstance(servers[0], dict):
        url = servers[0].get("url")
        if isinstance(url, str):
            prefix = urlsplit(url).path.rstrip("/")
    parts: set[str] = set()
    for path in document["paths"]:
        if not isinstance(path, str):
            continue
        for candidate in (path, prefix + path) if prefix else (path,):
            part = next((name for name, pattern in PART_PATHS if pattern.match(candidate)), None)
            if part is not None:
                parts.add(part)
                break
    return frozenset(parts)


async def _openapi_parts(client: ApiClient) -> frozenset[str] | None:
    """The parts the server's /openapi.json lists; None when it publishes none we can read.

    A network failure is raised: the server is not there, which the connect must say.
    """
    try:
        response = await client.request("GET", OPENAPI_PATH, max_retries=0)
    except ApiError as error:
        if error.is_network_error:
            raise
        return None
    if len(response.content) > MAX_OPENAPI_BYTES:
        return None
    try:
        return parts_from_openapi(response.json())
    except ValueError:  # not JSON (a web page, say)
        return None


async def _offers(client: ApiClient, part: str) -> bool:
    path, params = PROBES[part]
    try:
        response = await client.request("GET", path, params=params, max_retries=0)
    except ApiError as error:
        if error.is_network_error:
            raise
        return not (error.status == 404 and error.code in ("NOT_FOUND", ""))
    try:
        response.json()
    except ValueError:  # a web page answering every path is not the platform API
        return False
    return True


async def discover(client: ApiClient) -> Capabilities:
    """What the server behind `client` offers: from its /openapi.json, else by probing.

    The probes run concurrently, so either way it costs about one round trip (two when
    the server publishes no document).
    """
    parts = await _openapi_parts(client)
    if parts is not None:
        return Capabilities(parts, source="openapi")
    answers = await asyncio.gather(*(_offers(client, part) for part in PARTS))
    return Capabilities(
        frozenset(part for part, offered in zip(PARTS, answers, strict=True) if offered),
        source="probe",
    )


async def try_key(client: ApiClient, capabilities: Capabilities) -> bool:
    """Try the key with one authenticated read of a part the server offers (raises the
    server's refusal, or ValueError for an answer that is not JSON); False when no offered
    part has such a read (intents, ingest)."""
    for part, path, params in TRIAL_READS:
        if capabilities.offers(part):
            # Its JSON too: a web page at that address answers 200 to anything.
            (await client.request("GET", path, params=params)).json()
            return True
    return False


async def discover_trying_key(client: ApiClient) -> Capabilities:
    """`discover`, and the key tried on a part offered (raises the server's refusal).

    The read most servers offer (the keys list) is sent alongside the discovery, so this
    usually costs what the discovery alone does; its answer counts only if keys are offered.
    """
    first_part, path, params = TRIAL_READS[0]
    trial = asyncio.ensure_future(client.request("GET", path, params=params))
    try:
        capabilities = await discover(client)
    except BaseException:
        trial.cancel()
        await asyncio.gather(trial, return_exceptions=True)
        raise
    if capabilities.offers(first_part):
        (await trial).json()
        return capabilities
    await asyncio.gather(trial, return_exceptions=True)  # a 404: not offered here
    await try_key(client, capabilities)
    return capabilities


def describe(capabilities: Capabilities) -> str:
    """What the server offers, as a sentence ("This server offers pipelines and API keys.")."""
    titles = [PART_TITLES[part] for part in PARTS if capabilities.offers(part)]
    if not titles:
        return "This server offers no part of the platform API the console knows."
    listed = titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " and " + titles[-1]
    return f"This server offers {listed}."


def not_offered_text(part: str) -> str:
    """The sentence a tab shows for a part the server does not offer."""
    return f"This server does not offer {PART_TITLES[part]}."


# -- profile templates -----------------------------------------------------------------


@dataclass(frozen=True)
class ProfileTemplate:
    """How to reach one real service: its base URL pattern, auth and key kind."""

    name: str
    base_url: str  # a pattern: `{...}` marks what the user fills in
    auth_mode: str  # "header" or "query"
    key_prefix: str  # the key kind the service takes: "fdk_" or "ik_live_"
    parts: frozenset[str]  # what it offers (the sandbox's `--only` for it)
    auth_modes: tuple[str, ...] = ("header",)  # the modes the service accepts
    note: str = ""


TEMPLATES: tuple[ProfileTemplate, ...] = (
    ProfileTemplate(
        "Integrate.io",
        "https://{account}.integrate.io",
        "header",
        "fdk_",
        frozenset({"keys", "pipelines"}),
        note=(
            "Pipelines and API keys under /api/public/v1 (the console adds that path); "
            "Authorization: Bearer fdk_… admin key."
        ),
    ),
    ProfileTemplate(
        "Frontic",
        "https://ingest-{integration-id}.frontic.com",
        "header",
        "fdk_",
        frozenset({"intents"}),
        auth_modes=("header", "query"),
        note="The ingest intents under /ingest/{feed}/…; key in the header or as ?apiKey=.",
    ),
    ProfileTemplate(
        "Inspire",
        "https://{connector-host}",
        "header",
        "ik_live_",
        frozenset({"ingest"}),
        note="Stream ingestion at /api/ingest with an ingest key (ik_live_…) of one stream.",
    ),
)

# Shown whenever a profile sends its key in the query string.
QUERY_AUTH_WARNING = (
    "The key goes in the URL (?apiKey=…): proxies, load balancers and server access logs "
    "record URLs, so the secret ends up in their logs. Prefer the Authorization header "
    "where the service accepts it."
)
