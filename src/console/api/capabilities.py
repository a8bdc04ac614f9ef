"""What a server offers of the platform contract.

The sandbox offers every part; a real service offers only some (an Integrate.io account:
keys and pipelines; a Frontic ingest host: the intents; an Inspire connector: /api/ingest).
The console learns it on connect (`discover`, from /openapi.json where the server publishes
one, else by probing the documented routes) and each tab says plainly what is not offered.
It learns too what the connected key may use: an ingest key (`ik_live_…`) is refused
(403 FORBIDDEN) everywhere under /api/public/v1, so those parts are offered by the server
but forbidden for the key, and the tabs say that instead of failing.
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


# What an ingest key may use: its own stream, through /api/ingest and its feed's intents.
# Everything else lives under /api/public/v1, which answers an ingest key 403 FORBIDDEN.
INGEST_KEY_PARTS = frozenset({"intents", "ingest"})
# A key's kind by its prefix, as the contract formats keys (anything else: not known).
KEY_KIND_PREFIXES = {"fdk_": "admin", "ik_live_": "ingest"}


def key_kind(prefix: str) -> str | None:
    """The kind ("admin" or "ingest") a key's prefix (`ApiClient.key_prefix`) says, or None."""
    return KEY_KIND_PREFIXES.get(prefix)


@dataclass(frozen=True)
class Capabilities:
    """The parts of the contract one server offers, how that was learnt, and which of them
    the connected key may not use."""

    parts: frozenset[str]
    source: str = "assumed"  # "openapi", "probe" or "assumed" (nothing learnt yet)
    # Offered by the server, refused to this key (403 FORBIDDEN): by its kind, or a probe's
    # answer. Always a subset of `parts`.
    forbidden: frozenset[str] = frozenset()
    key_kind: str | None = None  # "admin", "ingest" (from the key's prefix), None: unknown

    def offers(self, part: str) -> bool:
        """Whether the server offers `part` (one of PARTS)."""
        if part not in PARTS:
            raise ValueError(f"unknown part {part!r}")
        return part in self.parts

    def allows(self, part: str) -> bool:
        """Whether the server offers `part` and the connected key may use it."""
        return self.offers(part) and part not in self.forbidden


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


# What one probe learns of its part.
ABSENT, OFFERED, FORBIDDEN = "absent", "offered", "forbidden"


async def _probe(client: ApiClient, part: str) -> str:
    """ABSENT, OFFERED, or FORBIDDEN (offered, but this key is refused there: 403)."""
    path, params = PROBES[part]
    try:
        response = await client.request("GET", path, params=params, max_retries=0)
    except ApiError as error:
        if error.is_network_error:
            raise
        if error.status == 404 and error.code in ("NOT_FOUND", ""):
            return ABSENT
        return FORBIDDEN if error.status == 403 else OFFERED
    try:
        response.json()
    except ValueError:  # a web page answering every path is not the platform API
        return ABSENT
    return OFFERED


async def _probe_all(client: ApiClient, parts: tuple[str, ...]) -> dict[str, str]:
    answers = await asyncio.gather(*(_probe(client, part) for part in parts))
    return dict(zip(parts, answers, strict=True))


def _forbidden_by_kind(kind: str | None, parts: frozenset[str]) -> frozenset[str]:
    return parts - INGEST_KEY_PARTS if kind == "ingest" else frozenset()


async def discover(client: ApiClient) -> Capabilities:
    """What the server behind `client` offers (from its /openapi.json, else by probing),
    and what of it the key may not use.

    The key's prefix says its kind, and the contract what each kind may use; a key of
    no known prefix is asked once per part it may be refused (403) on. Probes run
    concurrently, so it costs about one round trip (two without a document, or with a
    key of no known prefix).
    """
    kind = key_kind(client.key_prefix)
    parts = await _openapi_parts(client)
    if parts is not None:
        if kind is not None:
            forbidden = _forbidden_by_kind(kind, parts)
        else:
            asked = tuple(part for part in PARTS if part in parts - INGEST_KEY_PARTS)
            answers = await _probe_all(client, asked)
            forbidden = frozenset(part for part in asked if answers[part] == FORBIDDEN)
        return Capabilities(parts, "openapi", forbidden, kind)
    answers = await _probe_all(client, PARTS)
    parts = frozenset(part for part in PARTS if answers[part] != ABSENT)
    refused = frozenset(part for part in PARTS if answers[part] == FORBIDDEN)
    return Capabilities(parts, "probe", refused | _forbidden_by_kind(kind, parts), kind)


async def try_key(client: ApiClient, capabilities: Capabilities) -> bool:
    """Try the key with one authenticated read of a part the server offers (raises the
    server's refusal, or ValueError for an answer that is not JSON); False when no offered
    part has such a read (intents, ingest): the key is then first tried by its first use.

    An ingest key may read none of them, and its own routes are POSTs (each logged), so it
    is tried on an admin read all the same: the contract answers a valid key without the
    privilege 403 and a mistyped, revoked or expired one 401; reads are never logged.
    """
    ingest = capabilities.key_kind == "ingest"
    for part, path, params in TRIAL_READS:
        if capabilities.allows(part) or (ingest and capabilities.offers(part)):
            try:
                # Its JSON too: a web page at that address answers 200 to anything.
                (await client.request("GET", path, params=params)).json()
            except ApiError as error:
                if ingest and error.status == 403:
                    return True
                raise
            return True
    return False


async def discover_trying_key(client: ApiClient) -> Capabilities:
    """`discover`, and the key tried on a part offered that it may use (raises the
    server's refusal).

    The read most servers offer (the keys list) is sent alongside the discovery, so this
    usually costs what the discovery alone does; its answer counts only if keys are offered
    and the key may read them. An ingest key may not (403): it is not sent for one.
    """
    if key_kind(client.key_prefix) == "ingest":
        capabilities = await discover(client)
        await try_key(client, capabilities)
        return capabilities
    first_part, path, params = TRIAL_READS[0]
    trial = asyncio.ensure_future(client.request("GET", path, params=params))
    try:
        capabilities = await discover(client)
    except BaseException:
        trial.cancel()
        await asyncio.gather(trial, return_exceptions=True)
        raise
    if capabilities.allows(first_part):
        (await trial).json()
        return capabilities
    await asyncio.gather(trial, return_exceptions=True)  # a 404 or 403: it does not count
    await try_key(client, capabilities)
    return capabilities


def describe(capabilities: Capabilities) -> str:
    """What the server offers, as a sentence ("This server offers pipelines and API keys.")."""
    titles = [PART_TITLES[part] for part in PARTS if capabilities.offers(part)]
    if not titles:
        return "This server offers no part of the platform API the console knows."
    return f"This server offers {_listed(titles)}."


def _listed(titles: list[str]) -> str:
    return titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " and " + titles[-1]


def not_offered_text(part: str) -> str:
    """The sentence a tab shows for a part the server does not offer."""
    return f"This server does not offer {PART_TITLES[part]}."


def forbidden_text(part: str) -> str:
    """The sentence a tab shows for a part the server offers but the key may not use."""
    return f"This key may not use {PART_TITLES[part]}."


def unavailable_text(capabilities: Capabilities, part: str) -> str:
    """Why `part` cannot be used here ("" when it can): not offered, or not for this key."""
    if not capabilities.offers(part):
        return not_offered_text(part)
    return forbidden_text(part) if part in capabilities.forbidden else ""


def key_reason(capabilities: Capabilities, part: str) -> str:
    """What a page for a part forbidden to the key adds: what the key is, and which kind
    of key may use the part ("" when the key may use it)."""
    if not capabilities.offers(part) or part not in capabilities.forbidden:
        return ""
    title = PART_TITLES[part]
    if capabilities.key_kind == "ingest":
        return (
            "It is an ingest key (ik_live_…), which may only send items to its own stream. "
            f"An admin key (fdk_…) may use {title} (change the connection's key under "
            "Connections…)."
        )
    if capabilities.key_kind == "admin":
        return (
            "The server refuses this admin key there (403 FORBIDDEN): ask the server's "
            "administrator for a key that may."
        )
    return (
        f"The server refuses this key there (403 FORBIDDEN). An admin key (fdk_…) may use "
        f"{title} (change the connection's key under Connections…)."
    )


def describe_key(capabilities: Capabilities) -> str:
    """What the connected key may use, when that is less than the server offers ("" when
    it may use all of it)."""
    if not capabilities.forbidden & capabilities.parts:
        return ""
    titles = [PART_TITLES[part] for part in PARTS if capabilities.allows(part)]
    if not titles:
        return "This key may use none of it."
    return f"This key may use {_listed(titles)}."


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
