"""A `multipart/form-data` body streamed from a file on disk, never held whole in memory.

The body is the form fields, then the file part read in chunks (in a worker thread, so a
slow disk never stalls the event loop), with its length known up front: it is sent with
a Content-Length rather than chunked, and can report progress against that total. The
object can be iterated again (a retried request sends it afresh from the file).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path

Progress = Callable[[int, int], None]  # (sent_bytes, total_bytes)
FieldValue = str | int | bool | Sequence[str | int]
CHUNK_SIZE = 256 * 1024


class MultipartFile:
    """Form fields plus one file part (the whole file, or its first `length` bytes), as an
    async body."""

    def __init__(
        self,
        fields: Sequence[tuple[str, str]],
        file_field: str,
        path: str | os.PathLike[str],
        *,
        filename: str | None = None,
        content_type: str = "application/octet-stream",
        length: int | None = None,
        progress: Progress | None = None,
        boundary: str | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.path = Path(path)
        # The size is taken now: the Content-Length is promised before the first byte.
        self.file_length = self.path.stat().st_size if length is None else length
        self.boundary = boundary or f"console-{secrets.token_hex(16)}"
        self.progress = progress
        self._chunk_size = chunk_size
        name = self.path.name if filename is None else filename
        parts = [
            _part_header(self.boundary, key, None, None) + value.encode() + b"\r\n"
            for key, value in fields
        ]
        parts.append(_part_header(self.boundary, file_field, name, content_type))
        self._head = b"".join(parts)
        self._tail = f"\r\n--{self.boundary}--\r\n".encode("ascii")
        self.content_length = len(self._head) + self.file_length + len(self._tail)

    @property
    def headers(self) -> dict[str, str]:
        """Content-Type (with the boundary) and Content-Length of the body."""
        return {
            "Content-Type": f"multipart/form-data; boundary={self.boundary}",
            "Content-Length": str(self.content_length),
        }

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """The body, chunk by chunk; progress is reported as each chunk is taken."""
        total = self.content_length
        sent = len(self._head)
        yield self._head
        self._report(sent, total)
        handle = await asyncio.to_thread(open, self.path, "rb")
        try:
            remaining = self.file_length
            while remaining:
                chunk = await asyncio.to_thread(handle.read, min(self._chunk_size, remaining))
                if not chunk:
                    raise OSError(f"{self.path} became shorter while it was being sent")
                remaining -= len(chunk)
                yield chunk
                sent += len(chunk)
                self._report(sent, total)
        finally:
            handle.close()
        yield self._tail
        self._report(total, total)

    def _report(self, sent: int, total: int) -> None:
        if self.progress is not None:
            self.progress(sent, total)


def form_fields(values: Mapping[str, FieldValue]) -> list[tuple[str, str]]:
    """Form fields as name/text pairs; a list becomes `name[0]`, `name[1]`, ... parts."""
    pairs: list[tuple[str, str]] = []
    for name, value in values.items():
        if isinstance(value, str | int | bool):
            pairs.append((name, _text(value)))
        else:
            pairs.extend((f"{name}[{index}]", _text(item)) for index, item in enumerate(value))
    return pairs


def _text(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _part_header(boundary: str, name: str, filename: str | None, content_type: str | None) -> bytes:
    disposition = f'form-data; name="{_quoted(name)}"'
    if filename is not None:
        disposition += f'; filename="{_quoted(filename)}"'
    lines = [f"--{boundary}", f"Content-Disposition: {disposition}"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _quoted(text: str) -> str:
    """A name or file name inside the header's quotes, escaped as browsers do (WHATWG)."""
    return text.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")
