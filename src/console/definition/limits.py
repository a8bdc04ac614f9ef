"""The bounds every definition document is held to, by the server and the linter alike.

One place for them, so the `validate` command can never pass a file the server refuses
for a reason the file itself shows (docs/pipelines.md, "Limits").
"""

from __future__ import annotations

# The server's body cap (PLATFORM_API.md, Limits): a file above it is refused with 413.
MAX_DOCUMENT_BYTES = 1_048_576
# Nested mappings and lists. Real definitions are 6 deep (tables[0].columns.include);
# 64 leaves free-form transformation config plenty of room and keeps every walk short.
MAX_DEPTH = 64
# The longest number literal: a 64-bit integer in binary with underscores still fits.
MAX_NUMBER_CHARS = 100
# Integers anywhere in a document are signed 64-bit, as a database column stores them.
MIN_INTEGER = -(2**63)
MAX_INTEGER = 2**63 - 1
# Sync frequencies, in minutes: at least one minute, at most one year (365 days).
MIN_FREQUENCY = 1
MAX_FREQUENCY = 525_600
# Names are shown in lists and titles, a page of pipelines at a time: a pipeline's name is
# at most 200 characters and a table's at most 255 (a qualified SQL name), and neither
# holds control characters (C0, DEL, C1), which no list or log can show.
MAX_PIPELINE_NAME_CHARS = 200
MAX_TABLE_NAME_CHARS = 255
CONTROL_CHARACTERS = "\x00-\x1f\x7f-\x9f"


def utf8_length_exceeds(text: str, limit: int) -> bool:
    """Whether `text` takes more than `limit` bytes as UTF-8, without encoding short texts."""
    if len(text) > limit:
        return True
    if len(text) * 4 <= limit:  # no code point takes more than 4 bytes
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit
