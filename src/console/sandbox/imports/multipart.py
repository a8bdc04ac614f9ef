"""An incremental multipart/form-data parser (RFC 7578) that never holds a part whole.

Fed the body chunk by chunk as it arrives; each part's bytes go to the caller's handler as
they are found, so a file part can be written straight to disk. What the parser holds is
bounded: one chunk, the delimiter's length of look-behind, and one part's header block
(`max_header_bytes`). No dependency: python-multipart is not installed with Starlette here,
and this is the small subset a form upload needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

MAX_HEADER_BYTES = 8 * 1024
MAX_PARTS = 32
MAX_BOUNDARY_LENGTH = 70  # RFC 2046 section 5.1.1


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data (or passes a parser bound)."""


@dataclass(frozen=True)
class PartHeaders:
    """What a part's headers say: its form field name, file name and content type."""

    name: str
    filename: str | None
    content_type: str | None


class PartHandler(Protocol):
    """Receives a form's parts as the parser finds them."""

    def begin(self, part: PartHeaders) -> None:
        """A part starts."""

    def data(self, chunk: bytes) -> None:
        """More bytes of the current part (any size, possibly empty)."""

    def end(self) -> None:
        """The current part is complete."""


def _split_parameters(text: str) -> list[str]:
    """`a; b="x;y"; c` split on semicolons outside quoted strings."""
    pieces: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    pieces.append("".join(current))
    return pieces


def header_parameters(value: str) -> tuple[str, dict[str, str]]:
    """A header value's main token (lowercased) and its parameters (names lowercased)."""
    main, *rest = _split_parameters(value)
    parameters: dict[str, str] = {}
    for piece in rest:
        name, sep, raw = piece.partition("=")
        if not sep:
            continue
        raw = raw.strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        parameters[name.strip().lower()] = raw
    return main.strip().lower(), parameters


def boundary_of(content_type: str) -> bytes:
    """The boundary of a multipart/form-data Content-Type; MultipartError if there is none."""
    media_type, parameters = header_parameters(content_type)
    if media_type != "multipart/form-data":
        raise MultipartError("the body must be multipart/form-data")
    boundary = parameters.get("boundary", "")
    if not 1 <= len(boundary) <= MAX_BOUNDARY_LENGTH or not boundary.isascii():
        raise MultipartError(
            f"the Content-Type needs a boundary of 1 to {MAX_BOUNDARY_LENGTH} ASCII characters"
        )
    return boundary.encode("ascii")


def _part_headers(block: bytes) -> PartHeaders:
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        raise MultipartError("a part's headers are not UTF-8") from None
    disposition: str | None = None
    content_type: str | None = None
    for line in text.split("\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise MultipartError(f"a part has a malformed header line: {line[:100]!r}")
        lowered = name.strip().lower()
        if lowered == "content-disposition":
            disposition = value
        elif lowered == "content-type":
            content_type = value.strip()
    if disposition is None:
        raise MultipartError("a part has no Content-Disposition header")
    kind, parameters = header_parameters(disposition)
    if kind != "form-data" or "name" not in parameters:
        raise MultipartError("a part's Content-Disposition must be form-data with a name")
    return PartHeaders(parameters["name"], parameters.get("filename"), content_type)


class MultipartParser:
    """Parses one multipart/form-data body fed with `feed(chunk)`, then `close()`."""

    def __init__(
        self,
        boundary: bytes,
        handler: PartHandler,
        *,
        max_header_bytes: int = MAX_HEADER_BYTES,
        max_parts: int = MAX_PARTS,
    ) -> None:
        self._handler = handler
        self._first = b"--" + boundary
        # Between parts the delimiter is CRLF + "--" + boundary (RFC 2046).
        self._delimiter = b"\r\n--" + boundary
        self._max_header_bytes = max_header_bytes
        self._max_parts = max_parts
        self._parts = 0
        self._state = "preamble"
        self._buffer = b""

    def feed(self, chunk: bytes) -> None:
        """Parse the next bytes of the body."""
        self._buffer += chunk
        while self._step():
            pass

    def close(self) -> None:
        """The body has ended: it must have ended with the closing delimiter."""
        if self._state != "done":
            raise MultipartError("the multipart body ended before its closing boundary")

    def _step(self) -> bool:
        """Advance as far as the buffer allows; True when another step may progress."""
        buffer = self._buffer
        if self._state == "preamble":
            # The first delimiter may open the body or follow a preamble line.
            at = buffer.find(self._first)
            if at < 0:
                keep = len(self._first) - 1
                if len(buffer) > keep:
                    self._buffer = buffer[-keep:]
                return False
            if at > 0 and buffer[at - 2 : at] != b"\r\n":
                raise MultipartError("the first boundary does not start a line")
            self._buffer = buffer[at + len(self._first) :]
            self._state = "after-delimiter"
            return True
        if self._state == "after-delimiter":
            if len(buffer) < 2:
                return False
            if buffer[:2] == b"--":
                self._state = "done"
                self._buffer = b""
                return False
            end = buffer.find(b"\r\n")
            if end < 0:
                if len(buffer) > 256:
                    raise MultipartError("a boundary line does not end")
                return False
            if buffer[:end].strip(b" \t"):
                raise MultipartError("a boundary line has text after the boundary")
            self._buffer = buffer[end + 2 :]
            self._state = "headers"
            return True
        if self._state == "headers":
            end = buffer.find(b"\r\n\r\n")
            if buffer.startswith(b"\r\n"):
                end = -2  # a part without headers: caught as "no Content-Disposition"
            if end == -1:
                if len(buffer) > self._max_header_bytes:
                    raise MultipartError(
                        f"a part's headers are over {self._max_header_bytes:,} bytes"
                    )
                return False
            if end > self._max_header_bytes:
                raise MultipartError(f"a part's headers are over {self._max_header_bytes:,} bytes")
            block = buffer[: max(end, 0)]
            self._buffer = buffer[end + 4 :]
            self._parts += 1
            if self._parts > self._max_parts:
                raise MultipartError(f"the form has more than {self._max_parts} parts")
            self._handler.begin(_part_headers(block))
            self._state = "body"
            return True
        if self._state == "body":
            at = buffer.find(self._delimiter)
            if at < 0:
                # Keep what could be the start of a delimiter split across chunks.
                keep = len(self._delimiter) - 1
                if len(buffer) > keep:
                    self._handler.data(buffer[:-keep])
                    self._buffer = buffer[-keep:]
                return False
            self._handler.data(buffer[:at])
            self._handler.end()
            self._buffer = buffer[at + len(self._delimiter) :]
            self._state = "after-delimiter"
            return True
        # done: the epilogue is ignored
        self._buffer = b""
        return False
