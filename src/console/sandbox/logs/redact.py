"""What a log may keep of a request: bodies cut at 64 KiB, no secret, masked credentials.

Stricter than console.common.redaction: a log body is attacker-controlled, so any run that
starts like a key is masked whatever surrounds it, a key cut by the 64 KiB boundary is
masked too, and JSON escapes (`fdk\\u005f…`) are read as the characters they stand for.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from console.common.redaction import ADMIN_KEY_PREFIX, INGEST_KEY_PREFIX, mask_key, mask_secret
from console.sandbox.logs.model import BODY_CAPTURE_BYTES

# A key's prefix followed by any alphanumeric run (at least one character), wherever it is.
# The prefix in any case: FDK_<secret> is not a key, but its secret is one.
_KEYLIKE = re.compile(r"(fdk_|ik_live_)([A-Za-z0-9]+)", re.IGNORECASE)
_SECRET_LENGTH = {ADMIN_KEY_PREFIX: 40, INGEST_KEY_PREFIX: 32}
# \uXXXX escapes of ASCII letters, digits and '_': a JSON string can spell a key with them.
_ASCII_ESCAPE = re.compile(r"\\u00([0-7][0-9a-fA-F])")
# Query parameters that carry a key (contract "Authentication").
CREDENTIAL_PARAMETERS = frozenset({"apikey", "access_token"})
# The request headers a log keeps (docs/api.md, Connector logs); never Authorization or Cookie.
KEPT_HEADERS = (
    "content-type",
    "content-length",
    "x-item-key",
    "idempotency-key",
    "x-correlation-id",
    "user-agent",
)
_HEADER_VALUE_LIMIT = 512


def _unescape_ascii(text: str) -> str:
    """`text` with \\u00XX escapes of printable ASCII replaced by their characters."""

    def replace(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char.isalnum() or char == "_" else match.group(0)

    return _ASCII_ESCAPE.sub(replace, text)


def redact_text(text: str) -> str:
    """`text` with every key-like run shown as prefix…last4 (or prefix… when not a key)."""
    if "\\u00" in text:
        text = _unescape_ascii(text)

    def replace(match: re.Match[str]) -> str:
        prefix, rest = match.group(1), match.group(2)
        if len(rest) == _SECRET_LENGTH[prefix.lower()]:
            return mask_key(prefix, rest[-4:])
        return prefix + "…"

    return _KEYLIKE.sub(replace, text)


def capture(raw: bytes, limit: int = BODY_CAPTURE_BYTES) -> tuple[str, bool]:
    """The first `limit` bytes of a body as masked text, and whether it was cut.

    A cut inside a UTF-8 sequence is dropped rather than shown as U+FFFD; other invalid
    bytes become U+FFFD. A key cut by the limit is masked like any other key-like run.
    """
    truncated = len(raw) > limit
    text = raw[:limit].decode("utf-8", errors="replace")
    if truncated:
        text = text.rstrip("\ufffd")
    return redact_text(text), truncated


def redact_path(path: str, query: str) -> str:
    """`path?query` for display, decoded, credential values masked (apiKey=fdk_…last4)."""
    if not query:
        return redact_text(path)
    parts = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        shown = mask_secret(value) if name.lower() in CREDENTIAL_PARAMETERS else redact_text(value)
        parts.append(f"{redact_text(name)}={shown}")
    return redact_text(path) + "?" + "&".join(parts)


def kept_headers(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The headers a log keeps (KEPT_HEADERS), values masked and cut at 512 characters."""
    kept: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").lower()
        if name in KEPT_HEADERS and name not in kept:
            kept[name] = redact_text(raw_value.decode("latin-1")[:_HEADER_VALUE_LIMIT])
    return kept
