"""Receiving an import upload: the multipart body streamed to a private file as it arrives.

The body comes from the body-limit middleware as a counted stream (the route declares
the import cap); each chunk goes through the incremental multipart parser, and the `file`
part's bytes go straight to a 0600 file in the data dir's `imports/` directory. What is
held in memory is one chunk plus a 1 MiB write buffer, whatever the file's size.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from starlette.requests import Request

from console.common.private_files import open_private, private_directory
from console.sandbox.http.errors import ApiError, Problem
from console.sandbox.imports.multipart import (
    MultipartError,
    MultipartParser,
    PartHeaders,
    boundary_of,
)
from console.sandbox.storage.sqlite import random_alphanumeric

# The form's text fields and the most bytes each may have.
FORM_FIELDS = ("format", "id_field", "dry_run", "dry_run_rows", "start_row")
MAX_FIELD_BYTES = 1024
WRITE_BUFFER_BYTES = 1024 * 1024


def _bad_form(message: str, field_name: str | None = None) -> ApiError:
    return ApiError(400, [Problem("VALIDATION_FAILED", message, field_name)])


@dataclass
class Upload:
    """A received form: its text fields, and its file on disk (the caller removes it)."""

    path: Path
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    file_bytes: int = 0
    has_file: bool = False

    def remove(self) -> None:
        """Delete the file (if it is still there)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class _FormWriter:
    """The multipart parser's handler: the file part to disk, text fields kept (bounded)."""

    def __init__(self, upload: Upload, sink: BinaryIO) -> None:
        self.upload = upload
        self.sink = sink
        self._part: str | None = None
        self._text = bytearray()

    def begin(self, part: PartHeaders) -> None:
        name = part.name
        if name == "file":
            if self.upload.has_file:
                raise _bad_form("The form has more than one 'file' part; send one file.", "file")
            self.upload.has_file = True
            self.upload.filename = part.filename
        elif name not in FORM_FIELDS:
            shown = name[:100]
            raise _bad_form(
                f"Unknown form field {shown!r}; the fields are file, {', '.join(FORM_FIELDS)}.",
                shown,
            )
        elif name in self.upload.fields:
            raise _bad_form(f"The form has the field {name!r} twice.", name)
        self._part = name
        self._text.clear()

    def data(self, chunk: bytes) -> None:
        if self._part == "file":
            self.sink.write(chunk)
            self.upload.file_bytes += len(chunk)
            return
        self._text += chunk
        if len(self._text) > MAX_FIELD_BYTES:
            raise _bad_form(f"{self._part} is over {MAX_FIELD_BYTES:,} bytes.", self._part)

    def end(self) -> None:
        if self._part is not None and self._part != "file":
            try:
                self.upload.fields[self._part] = self._text.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise _bad_form(f"{self._part} is not UTF-8 text.", self._part) from None
        self._part = None


async def receive_upload(request: Request, directory: Path, idle_seconds: float) -> Upload:
    """Stream the request's multipart form to a new private file under `directory`.

    415 when the body is not multipart/form-data, 400 when it is malformed or has unknown,
    repeated or oversized fields, 408 when the client sends nothing for `idle_seconds`.
    The body cap is the middleware's (413). On any failure the file is removed.
    """
    try:
        boundary = boundary_of(request.headers.get("content-type", ""))
    except MultipartError as exc:
        raise ApiError.single(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            f"An import is sent as multipart/form-data with a boundary ({exc}).",
        ) from None
    private_directory(directory)
    upload = Upload(directory / f"upload_{random_alphanumeric(24)}")
    fd = open_private(upload.path, os.O_WRONLY | os.O_EXCL)
    try:
        with os.fdopen(fd, "wb", buffering=WRITE_BUFFER_BYTES) as sink:
            parser = MultipartParser(boundary, _FormWriter(upload, sink))
            stream = request.stream().__aiter__()
            while True:
                try:
                    async with asyncio.timeout(idle_seconds):
                        chunk = await stream.__anext__()
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise ApiError.single(
                        408,
                        "REQUEST_TIMEOUT",
                        f"The upload stalled: no byte for {idle_seconds:g} s.",
                    ) from None
                parser.feed(chunk)
            parser.close()
    except MultipartError as exc:
        upload.remove()
        raise ApiError.single(400, "INVALID_PAYLOAD", f"The form is malformed: {exc}.") from None
    except BaseException:
        upload.remove()
        raise
    if not upload.has_file:
        upload.remove()
        raise _bad_form("The form has no 'file' part.", "file")
    return upload
