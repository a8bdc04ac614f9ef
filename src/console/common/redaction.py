"""Mask platform key secrets wherever text may leave the process (logs, errors, files).

Only the prefix and the last four characters of a key may ever be shown.
"""

from __future__ import annotations

import re

ADMIN_KEY_PREFIX = "fdk_"
INGEST_KEY_PREFIX = "ik_live_"

# Lookarounds keep a longer alphanumeric run (not a key) from being half-masked.
_SECRET = re.compile(
    r"(?<![A-Za-z0-9])(fdk_)[A-Za-z0-9]{36}([A-Za-z0-9]{4})(?![A-Za-z0-9])"
    r"|(?<![A-Za-z0-9])(ik_live_)[A-Za-z0-9]{28}([A-Za-z0-9]{4})(?![A-Za-z0-9])"
)


def mask_key(prefix: str, last4: str) -> str:
    """Display form of a key: its prefix, an ellipsis and its last four characters."""
    return f"{prefix}…{last4}"


def mask_secret(secret: str) -> str:
    """Display form of a full secret, without revealing its middle."""
    for prefix in (INGEST_KEY_PREFIX, ADMIN_KEY_PREFIX):
        if secret.startswith(prefix):
            return mask_key(prefix, secret[-4:])
    return "…" + secret[-4:] if len(secret) > 8 else "…"


def redact_secrets(text: str) -> str:
    """Replace every platform key in `text` by its masked form."""

    def replace(match: re.Match[str]) -> str:
        prefix = match.group(1) or match.group(3)
        last4 = match.group(2) or match.group(4)
        return mask_key(prefix, last4)

    return _SECRET.sub(replace, text)


def looks_like_key(text: str) -> bool:
    """Whether `text` is exactly an admin or an ingest key."""
    return bool(_SECRET.fullmatch(text.strip()))
