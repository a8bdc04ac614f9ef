"""Splitting an NDJSON, JSON-array or CSV file (or an iterable of objects) into batches for
`POST /api/ingest`, each with the byte range of the file it came from.

A batch is the longest run of consecutive items whose JSON array `[a,b,…]` stays within
`max_bytes` and `max_items`. Its boundaries are a pure function of the file's bytes and the
two limits, so a resumed upload cuts the file exactly as the interrupted one did, and each
batch's deterministic `Idempotency-Key` (feed, content hash, byte range) names the same items
both times. Ranges are contiguous: a batch starts where the previous one ended.

Items are checked here before anything is sent: each must be a JSON object carrying the item
key (when one is named). An item that fails is left out of its batch's body and reported with
its index in the source (0-based, counting items: NDJSON lines that are not blank, array
elements, CSV data records).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

SourceFormat = Literal["ndjson", "json", "csv"]
FORMATS: tuple[SourceFormat, ...] = ("ndjson", "json", "csv")
EXTENSIONS: dict[str, SourceFormat] = {
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "json",
    ".csv": "csv",
}
MAX_BATCH_BYTES = 1_000_000  # under the server's 1,048,576-byte body cap, with room to spare
MAX_BATCH_ITEMS = 10_000  # the server's limit of items per request
KEY_PREFIX = "ic1"
_MAX_KEY_LENGTH = 255  # the server's Idempotency-Key limit
_CHUNK = 1 << 20
_MAX_ELEMENT_CHARS = 8 << 20


class SourceError(ValueError):
    """The file cannot be split: not the format it claims (the message says where)."""


@dataclass(frozen=True)
class Batch:
    """Consecutive items of the source, ready to send as one JSON array."""

    index: int  # 0-based position among the source's batches
    start: int  # range in the source: byte offsets of a file, item indexes of an iterable
    end: int
    first_item: int  # source index of the range's first item
    item_count: int  # items in the range, including those rejected locally
    numbers: tuple[int, ...]  # source index of each item of the body, in order
    encoded: tuple[bytes, ...]  # each item of the body as JSON
    rejected: tuple[tuple[int, str], ...]  # (source index, reason) of items left out
    digest: str  # the content hash its key derives from

    @property
    def body(self) -> bytes:
        """The JSON array of every item that passed the local checks."""
        return self.body_without(frozenset())

    def body_without(self, excluded: frozenset[int]) -> bytes:
        """The JSON array without the items whose source indexes are in `excluded`."""
        kept = (
            enc
            for number, enc in zip(self.numbers, self.encoded, strict=True)
            if number not in excluded
        )
        return b"[" + b",".join(kept) + b"]"


def format_for(path: Path) -> SourceFormat | None:
    """The format a file name's extension says (None: it says none)."""
    return EXTENSIONS.get(path.suffix.lower())


def content_sha256(path: Path) -> str:
    """The SHA-256 of the file's bytes, hex."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def idempotency_key(feed: str, content_sha: str, start: int, end: int, excluded: str = "") -> str:
    """The batch's key: `ic1:{feed}:{content_sha[:32]}:{start}-{end}` (+ `:x{excluded}` when
    items the server refused were left out). Readable, so support can paste it into /trace.

    A feed id outside printable ASCII, or so long the key would pass 255 characters, is
    replaced by `h` + the first 16 hex digits of its SHA-256.
    """
    shown = feed
    tail = f":{content_sha[:32]}:{start}-{end}" + (f":x{excluded}" if excluded else "")
    printable = all(0x20 <= ord(ch) <= 0x7E for ch in feed)
    if not printable or len(KEY_PREFIX) + 1 + len(feed) + len(tail) > _MAX_KEY_LENGTH:
        shown = "h" + hashlib.sha256(feed.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{KEY_PREFIX}:{shown}{tail}"


def excluded_tag(numbers: Iterable[int]) -> str:
    """Eight hex digits naming a set of left-out item indexes (for `idempotency_key`)."""
    text = ",".join(str(n) for n in sorted(set(numbers)))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def missing_key_reason(item_key: str, number: int | None = None) -> str:
    """Why an item without the item key is refused, in the server's own words (`[7].id is
    missing: …`, with the item's index when given), so a reason reads the same whether the
    console or the server found it."""
    field = item_key if number is None else f"[{number}].{item_key}"
    return f"{field} is missing: every record carries the feed's id field."


def item_problem(item: Any, item_key: str | None, number: int | None = None) -> str | None:
    """Why an item cannot be sent (None: it can): not an object, or no valid item key
    (`number`: the item's index, named in the reason as the server names it).

    The key's value must be what the server takes as a system id: a non-empty string or
    an integer (not a boolean).
    """
    if not isinstance(item, dict):
        return "the item is not a JSON object"
    if item_key is None:
        return None
    if item_key not in item:
        return missing_key_reason(item_key, number)
    value = item[item_key]
    valid = (isinstance(value, str) and value != "") or (
        isinstance(value, int) and not isinstance(value, bool)
    )
    if not valid:
        field = item_key if number is None else f"[{number}].{item_key}"
        return f"{field} must be a non-empty string or an integer."
    return None


# A unit is one item of the source: (end offset of its range, its source index,
# its JSON or None, the problem or None).
_Unit = tuple[int, int, bytes | None, str | None]


def batches(
    path: Path,
    format: SourceFormat,
    *,
    max_bytes: int = MAX_BATCH_BYTES,
    max_items: int = MAX_BATCH_ITEMS,
    item_key: str | None = None,
    content_sha: str | None = None,
) -> Generator[Batch, None, None]:
    """The file's batches in order (the file is read as it goes, never whole)."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    digest = content_sha or content_sha256(path)
    with path.open("rb") as file:
        units = {"ndjson": _ndjson_units, "json": _json_array_units, "csv": _csv_units}[format]
        yield from _group(units(file, item_key), max_bytes, max_items, lambda _end: digest)


def first_items(
    path: Path, format: SourceFormat, limit: int, max_bytes: int | None = None
) -> list[tuple[int, Any, str | None]]:
    """The file's first `limit` items as the uploader reads them: (source index, the item
    or None, why it cannot be sent or None), stopping once `max_bytes` of items are read
    (at least one is). The item key is not checked here (see `item_problem`); SourceError
    when the file is not the format it claims."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    found: list[tuple[int, Any, str | None]] = []
    if limit <= 0:
        return found
    read = 0
    with path.open("rb") as file:
        units = {"ndjson": _ndjson_units, "json": _json_array_units, "csv": _csv_units}[format]
        for _end, number, encoded, problem in units(file, None):
            item = _STRICT.decode(encoded.decode("utf-8")) if encoded is not None else None
            found.append((number, item, problem))
            read += len(encoded) if encoded is not None else 0
            if len(found) >= limit or (max_bytes is not None and read >= max_bytes):
                break
    return found


def batches_of_items(
    items: Iterable[Mapping[str, Any]],
    *,
    max_bytes: int = MAX_BATCH_BYTES,
    max_items: int = MAX_BATCH_ITEMS,
    item_key: str | None = None,
) -> Generator[Batch, None, None]:
    """The batches of an iterable; ranges are item indexes, and each batch's digest is a
    running SHA-256 of every item up to its end (so equal iterables give equal keys)."""
    running = hashlib.sha256()

    def units() -> Iterator[_Unit]:
        for number, item in enumerate(items):
            value = dict(item) if isinstance(item, Mapping) else item
            problem = item_problem(value, item_key, number)
            encoded = None
            if problem is None:
                try:
                    encoded = _compact(value)
                except (TypeError, ValueError) as exc:
                    problem = f"the item cannot be sent as JSON: {exc}"
            running.update(encoded if encoded is not None else b"!" + str(problem).encode())
            running.update(b"\n")
            yield number + 1, number, encoded, problem

    def digest(_end: int) -> str:
        return running.copy().hexdigest()

    yield from _group(units(), max_bytes, max_items, digest)


def _compact(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _group(
    units: Iterator[_Unit], max_bytes: int, max_items: int, digest_at: Any
) -> Iterator[Batch]:
    """Cut units into batches by the limits; every batch range ends at a unit's end."""
    index = 0
    start = 0
    first_item: int | None = None
    last_end = 0
    count = 0
    numbers: list[int] = []
    encoded: list[bytes] = []
    rejected: list[tuple[int, str]] = []
    size = 2  # "[" and "]"

    def flush() -> Batch:
        return Batch(
            index=index,
            start=start,
            end=last_end,
            first_item=first_item if first_item is not None else 0,
            item_count=count,
            numbers=tuple(numbers),
            encoded=tuple(encoded),
            rejected=tuple(rejected),
            digest=digest_at(last_end),
        )

    for end, number, enc, problem in units:
        if enc is not None and problem is None and len(enc) + 2 > max_bytes:
            problem = (
                f"the item is {len(enc):,} bytes as JSON; a request holds at most {max_bytes - 2:,}"
            )
            enc = None
        if (
            enc is not None
            and numbers
            and (size + 1 + len(enc) > max_bytes or len(numbers) >= max_items)
        ):
            yield flush()
            index += 1
            start, first_item, count, size = last_end, None, 0, 2
            numbers, encoded, rejected = [], [], []
        if first_item is None:
            first_item = number
        count += 1
        last_end = end
        if enc is None:
            rejected.append((number, problem or "the item cannot be sent"))
        else:
            size += len(enc) + (1 if numbers else 0)
            numbers.append(number)
            encoded.append(enc)
    if count:
        yield flush()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_STRICT = json.JSONDecoder(parse_constant=_reject_constant)


def _ndjson_units(file: BinaryIO, item_key: str | None) -> Iterator[_Unit]:
    """One unit per non-blank physical line; its range ends after the line's newline."""
    # decode() without its two whitespace regex matches (typeshed omits the attribute)
    scan = _STRICT.scan_once  # type: ignore[attr-defined]
    offset = 0
    number = 0
    for line, length in _bounded_lines(file):
        text = line.strip()
        if not offset and text.startswith(codecs.BOM_UTF8):
            text = text[len(codecs.BOM_UTF8) :].strip()
        offset += length
        if not text:
            continue
        problem: str | None
        if length > len(line):
            problem = f"the line is over {_MAX_ELEMENT_CHARS >> 20} MiB"
            yield offset, number, None, problem
            number += 1
            continue
        try:
            decoded = text.decode("utf-8")
            value, end = scan(decoded, 0)
            if end != len(decoded):
                raise ValueError(f"extra data after the value at column {end + 1}")
        except UnicodeDecodeError:
            problem = "the line is not UTF-8"
        except StopIteration:
            problem = "the line is not valid JSON (expecting a value)"
        except ValueError as exc:
            problem = f"the line is not valid JSON ({exc})"
        except RecursionError:
            # json's C scanner stops deep nesting this way: the item is refused, not the file.
            problem = "the line nests deeper than JSON can be read here"
        else:
            problem = item_problem(value, item_key, number)
        yield offset, number, (text if problem is None else None), problem
        number += 1


def _bounded_lines(file: BinaryIO) -> Iterator[tuple[bytes, int]]:
    """Each physical line (at most its first _MAX_ELEMENT_CHARS bytes) and its full length:
    the rest of a longer line is read in chunks and dropped, so a file without newlines is
    never held in memory whole."""
    while True:
        line = file.readline(_MAX_ELEMENT_CHARS + 1)
        if not line:
            return
        length = len(line)
        if length > _MAX_ELEMENT_CHARS and not line.endswith(b"\n"):
            line = line[:_MAX_ELEMENT_CHARS]
            while True:
                rest = file.readline(_CHUNK)
                length += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
        yield line, length


def _csv_units(file: BinaryIO, item_key: str | None) -> Iterator[_Unit]:
    """One unit per CSV data record (a quoted newline stays inside its record); values are
    strings, named by the header row."""
    consumed = 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        first = True
        for raw, length in _bounded_lines(file):
            if length > len(raw):
                raise SourceError(
                    f"a line near byte {consumed:,} is over {_MAX_ELEMENT_CHARS >> 20} MiB"
                )
            try:
                text = raw.decode("utf-8-sig" if first else "utf-8")
            except UnicodeDecodeError:
                raise SourceError(f"the file is not UTF-8 (at byte {consumed:,})") from None
            first = False
            consumed += len(raw)
            yield text

    reader = csv.reader(lines())
    try:
        header = next(reader, None)
        if header is None:
            return
        number = 0
        for row in reader:
            end = consumed
            if not row:
                continue
            problem: str | None
            if len(row) != len(header):
                problem = f"the row has {len(row)} fields; the header has {len(header)}"
                item: dict[str, str] = {}
            else:
                item = dict(zip(header, row, strict=True))
                problem = item_problem(item, item_key, number)
            yield end, number, (_compact(item) if problem is None else None), problem
            number += 1
    except csv.Error as exc:
        raise SourceError(f"the file is not valid CSV near byte {consumed:,}: {exc}") from None


def _json_array_units(file: BinaryIO, item_key: str | None) -> Iterator[_Unit]:
    """One unit per element of a top-level JSON array, decoded incrementally (the file is
    read 1 MiB at a time); each element is sent as its own text from the file."""
    # Plain utf-8, not utf-8-sig: a BOM is skipped below with its 3 bytes counted, so every
    # offset (item spans, batch ranges and their keys) is the file's own.
    decoder = codecs.getincrementaldecoder("utf-8")()
    buf = ""
    pos = 0  # index in buf
    pos_byte = 0  # byte offset in the file of buf[pos]
    eof = False

    def more() -> bool:
        nonlocal buf, pos, eof
        if eof:
            return False
        chunk = file.read(_CHUNK)
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError:
            raise SourceError("the file is not UTF-8") from None
        if not chunk:
            eof = True
        if pos:
            buf = buf[pos:]
            pos = 0
        buf += text
        return bool(chunk) or bool(text)

    def advance(to: int) -> None:
        nonlocal pos, pos_byte
        pos_byte += len(buf[pos:to].encode("utf-8"))
        pos = to

    def skip_space() -> str | None:
        """The next non-space character (not consumed); None at the end of the file."""
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                advance(pos + 1)
            if pos < len(buf):
                return buf[pos]
            if not more():
                return None

    while not buf and more():
        pass
    if buf.startswith("\ufeff"):
        advance(pos + 1)
    first = skip_space()
    if first != "[":
        raise SourceError("a JSON-array file must start with '['")
    advance(pos + 1)
    number = 0
    if skip_space() == "]":
        advance(pos + 1)
        _expect_end(skip_space)
        return
    while True:
        if skip_space() is None:
            raise SourceError(f"the array is not closed (at byte {pos_byte:,})")
        while True:
            try:
                value, end = _STRICT.raw_decode(buf, pos)
            except RecursionError:
                # Its end cannot be found without reading it: the file cannot go on.
                raise SourceError(
                    f"an element at byte {pos_byte:,} nests deeper than JSON can be read here"
                ) from None
            except ValueError as exc:
                # Cut by the chunk's end, or broken: read on, but not without bound (an
                # element this large could never be sent anyway).
                if len(buf) - pos <= _MAX_ELEMENT_CHARS and more():
                    continue
                raise SourceError(
                    f"the file is not valid JSON at byte {pos_byte:,} "
                    f"(or an element there is over {_MAX_ELEMENT_CHARS >> 20} MiB): {exc}"
                ) from None
            if end == len(buf) and more():
                continue  # a number or literal may go on in the next chunk
            break
        element = buf[pos:end].encode("utf-8")
        advance(end)
        problem = item_problem(value, item_key, number)
        yield pos_byte, number, (element if problem is None else None), problem
        number += 1
        after = skip_space()
        if after == ",":
            advance(pos + 1)
            continue
        if after == "]":
            advance(pos + 1)
            _expect_end(skip_space)
            return
        if after is None:
            raise SourceError(f"the array is not closed (at byte {pos_byte:,})")
        raise SourceError(f"expected ',' or ']' at byte {pos_byte:,}")


def _expect_end(skip_space: Any) -> None:
    if skip_space() is not None:
        raise SourceError("the file goes on after the array's closing ']'")


def item_spans(path: Path, format: SourceFormat) -> Generator[tuple[int, int, int], None, None]:
    """(source index, start, end) of every item's bytes in the file, numbered as the
    uploader numbers them (a span may begin with the blank lines, comma or bracket before
    the item: `rejected_items` trims them). Read as it goes; SourceError as the uploader."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    with path.open("rb") as file:
        if format == "ndjson":
            # Numbered as _ndjson_units numbers them (each non-blank line), without decoding,
            # a chunk of a line at a time: a rejected line of many MiB is never held whole.
            start = end = number = 0
            blank = True
            while piece := file.readline(_CHUNK):
                content = piece.lstrip() if not end else piece
                if not end and content.startswith(codecs.BOM_UTF8):
                    content = content[len(codecs.BOM_UTF8) :]
                blank = blank and (not content or content.isspace())  # no copy of the piece
                end += len(piece)
                if piece.endswith(b"\n"):
                    if not blank:
                        yield number, start, end
                        number += 1
                        start = end
                    blank = True
            if not blank:
                yield number, start, end
            return
        start = csv_header_end(file) if format == "csv" else 0
        file.seek(0)
        units = {"json": _json_array_units, "csv": _csv_units}[format]
        for end, number, _encoded, _problem in units(file, None):
            yield number, start, end
            start = end


def csv_header_end(file: BinaryIO) -> int:
    """The byte offset just after a CSV file's header record (0: no header)."""
    consumed = 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        for raw, length in _bounded_lines(file):
            consumed += length
            yield raw.decode("utf-8", errors="replace")

    try:
        next(csv.reader(lines()), None)
    except csv.Error as exc:
        raise SourceError(f"the file is not valid CSV near byte {consumed:,}: {exc}") from None
    return consumed
