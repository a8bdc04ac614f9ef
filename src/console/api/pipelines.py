"""Pipelines (`/api/public/v1/pipelines`): list, definitions with revisions, lifecycle."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from console.api.fields import optional_float
from console.api.transport import ApiClient

PIPELINES_PATH = "/api/public/v1/pipelines"
MAX_PAGE_SIZE = 100
DefinitionFormat = Literal["yaml", "json"]
MEDIA_TYPES: dict[str, str] = {"yaml": "application/yaml", "json": "application/json"}
_ETAG = re.compile(r'^(?:W/)?"?(\d+)"?$')


@dataclass(frozen=True)
class Pipeline:
    """Metadata of one pipeline."""

    id: int
    name: str
    status: str
    revision: int
    created_at: float
    updated_at: float
    last_sync_started_at: float | None
    last_sync_finished_at: float | None
    last_error: str | None

    @property
    def is_transitioning(self) -> bool:
        """Deploying or stopping: worth watching until it settles."""
        return self.status in ("deploying", "stopping")

    @property
    def is_archived(self) -> bool:
        """Archived pipelines cannot be started again."""
        return self.status == "archived"

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Pipeline:
        """Parse the contract's pipeline metadata."""
        return cls(
            id=int(body["id"]),
            name=str(body.get("name") or ""),
            status=str(body.get("status") or "draft"),
            revision=int(body.get("revision") or 0),
            created_at=float(body.get("created_at") or 0),
            updated_at=float(body.get("updated_at") or 0),
            last_sync_started_at=optional_float(body.get("last_sync_started_at")),
            last_sync_finished_at=optional_float(body.get("last_sync_finished_at")),
            last_error=body.get("last_error") or None,
        )


@dataclass(frozen=True)
class PipelinesPage:
    """One page of the list (page numbers start at 1)."""

    items: list[Pipeline]
    page: int
    page_size: int

    @property
    def is_last(self) -> bool:
        """A short or empty page ends the list (the contract gives no total)."""
        return len(self.items) < self.page_size


@dataclass(frozen=True)
class DefinitionText:
    """A definition as the server serialised it, with the revision it belongs to."""

    text: str
    format: DefinitionFormat
    revision: int | None


class PipelinesApi:
    """The pipelines resource of one connection."""

    def __init__(self, client: ApiClient) -> None:
        self._client = client

    async def list_page(
        self, page: int = 1, *, page_size: int = 50, include_archived: bool = False
    ) -> PipelinesPage:
        """One page, newest first."""
        params: dict[str, Any] = {"page": page, "page_size": min(page_size, MAX_PAGE_SIZE)}
        if include_archived:
            params["include_archived"] = "true"
        body = await self._client.get_json(PIPELINES_PATH, params)
        pagination = body.get("pagination") or {}
        return PipelinesPage(
            [Pipeline.from_json(item) for item in body.get("data", [])],
            int(pagination.get("page") or page),
            int(pagination.get("page_size") or params["page_size"]),
        )

    async def list_all(self, *, include_archived: bool = False) -> list[Pipeline]:
        """Every pipeline: pages until a short or empty page."""
        pipelines: list[Pipeline] = []
        page = 1
        while True:
            result = await self.list_page(
                page, page_size=MAX_PAGE_SIZE, include_archived=include_archived
            )
            pipelines.extend(result.items)
            if result.is_last:
                return pipelines
            page += 1

    async def get(self, pipeline_id: int) -> Pipeline:
        """Metadata of one pipeline."""
        return Pipeline.from_json(await self._client.get_json(f"{PIPELINES_PATH}/{pipeline_id}"))

    async def get_definition(
        self, pipeline_id: int, *, format: DefinitionFormat = "yaml"
    ) -> DefinitionText:
        """The current definition and its revision (from the ETag)."""
        response = await self._client.request(
            "GET",
            f"{PIPELINES_PATH}/{pipeline_id}/definition",
            headers={"Accept": MEDIA_TYPES[format]},
        )
        return DefinitionText(response.text, format, parse_etag(response.headers.get("etag")))

    async def create(self, text: str, *, format: DefinitionFormat = "yaml") -> Pipeline:
        """Create a pipeline from a definition document."""
        response = await self._client.request(
            "POST", PIPELINES_PATH, content=text.encode("utf-8"), headers=_content_type(format)
        )
        return Pipeline.from_json(response.json())

    async def replace_definition(
        self,
        pipeline_id: int,
        text: str,
        *,
        format: DefinitionFormat = "yaml",
        if_match: int | None = None,
    ) -> Pipeline:
        """Reconcile the pipeline to `text`; with `if_match`, 412 when someone applied first."""
        headers = _content_type(format)
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"'
        response = await self._client.request(
            "PUT",
            f"{PIPELINES_PATH}/{pipeline_id}/definition",
            content=text.encode("utf-8"),
            headers=headers,
        )
        return Pipeline.from_json(response.json())

    async def validate(
        self, text: str, *, format: DefinitionFormat = "yaml", pipeline_id: int | None = None
    ) -> None:
        """Dry-run the server's checks; raises ApiError listing every problem."""
        path = (
            f"{PIPELINES_PATH}/validate"
            if pipeline_id is None
            else f"{PIPELINES_PATH}/{pipeline_id}/definition/validate"
        )
        await self._client.request(
            "POST", path, content=text.encode("utf-8"), headers=_content_type(format)
        )

    async def start(self, pipeline_id: int) -> Pipeline:
        """Deploy and run the pipeline."""
        return Pipeline.from_json(
            await self._client.post_json(f"{PIPELINES_PATH}/{pipeline_id}/start", None)
        )

    async def stop(self, pipeline_id: int, *, force: bool = False) -> Pipeline:
        """Stop gracefully (409 SYNC_IN_PROGRESS during a sync) or, with `force`, at once."""
        response = await self._client.request(
            "POST",
            f"{PIPELINES_PATH}/{pipeline_id}/stop",
            params={"force": "true"} if force else None,
        )
        return Pipeline.from_json(response.json())

    async def archive(self, pipeline_id: int) -> Pipeline:
        """Archive (stopping and tearing down a deployed pipeline first)."""
        return Pipeline.from_json(await self._client.delete_json(f"{PIPELINES_PATH}/{pipeline_id}"))


def parse_etag(value: str | None) -> int | None:
    """The revision in an ETag such as `"3"` or `W/"3"`."""
    if not value:
        return None
    match = _ETAG.match(value.strip())
    return int(match.group(1)) if match else None


def _content_type(format: DefinitionFormat) -> dict[str, str]:
    return {"Content-Type": MEDIA_TYPES[format]}
