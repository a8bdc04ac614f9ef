"""The Ingest Logs view's entries as numpy columns: up to a million, filtered in a millisecond.

Layout (docs/console.md, "Ingest Logs buffer"):
- Each entry has a *slot*: a logical position that never changes while the entry is held.
  `add_older` gives slots below every held one, `add_newer` above, so slot order is id
  order and a selection is a slice of one sorted sequence, not a sort.
- Columns are arrays of `size` elements (doubling up to `capacity`) used as a ring: slot
  `s` lives at index `s % size`. Evicting the oldest entries frees their indexes for the
  newest without moving anything.
- Category columns (status, feed, intent, HTTP status, key, error label, ...) hold small
  integer codes into a list of values; a code array widens from uint8 to uint16 to
  uint32 only when a column meets that many distinct values.
- Request and correlation ids of the sandbox's form (`req_`/`corr_` + 26 alphanumerics)
  are rows of 20 bytes (6 bits a character, `_ids`), their prefix implied; other forms
  and idempotency keys live in a sparse byte arena (`_arena.SparseStrings`).
- Every mutation writes its arrays first, then publishes a new immutable `_View`: a
  `select` running on a worker thread works on the view it started with. Slots evicted
  meanwhile may show other entries' values in that result: `holds()` tells.
"""

from __future__ import annotations

import enum
import functools
import math
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, BinaryIO, Concatenate, Final, NamedTuple, ParamSpec, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from console.api.logs import LogEntry, LogItemError
from console.common.contract import ERROR_CODE_BY_STATUS, LOG_PROCESSING_STATUSES
from console.logbuffer._arena import SparseStrings, bound_heap, release_freed_heap, zeros
from console.logbuffer._ids import ID_WIDTH, PACKED_WIDTH, held, pack, text_of, unpack
from console.logbuffer._ids import rows_containing as ids_containing
from console.logbuffer._ids import rows_starting_with as ids_starting_with
from console.logbuffer._search import fold

MAX_ENTRIES = 1_000_000
STATUSES: tuple[str, ...] = LOG_PROCESSING_STATUSES  # codes 0..6, in this order
FINAL_STATUSES = frozenset({"succeeded", "partially_failed", "failed", "duplicate", "rejected"})

REQUEST_PREFIX, CORRELATION_PREFIX = "req_", "corr_"
# The first slot handed out: slots go down from it (add_older) and up (add_newer) and
# stay within int32 for about a billion added entries before `_rebase` renumbers them.
_ORIGIN: Final = 1 << 30
_SLOT_LIMIT: Final = (1 << 31) - 1
_FIRST_SIZE: Final = 4096
_LABEL_LIMIT: Final = 200
# What an export writes of each entry, in order (NDJSON keys are the contract's names).
EXPORT_FIELDS: tuple[str, ...] = (
    "id",
    "timestamp",
    "processing_status",
    "feed",
    "intent",
    "http_status",
    "items_received",
    "request_id",
    "correlation_id",
    "duration_ms",
    "key",
    "error_count",
    "error",
    "idempotency_key",
    "pipeline_id",
    "client_ip",
    "method",
    "auth_via",
)  # characters of an error label (messages come from clients)


class Column(enum.Enum):
    """The columns the table shows and the filters name."""

    TIME = "time"
    STATUS = "status"
    FEED = "feed"
    INTENT = "intent"
    HTTP_STATUS = "http_status"
    ITEMS = "items"
    REQUEST_ID = "request_id"
    CORRELATION_ID = "correlation_id"
    DURATION = "duration"
    KEY = "key"
    ERROR = "error"
    IDEMPOTENCY_KEY = "idempotency_key"
    PIPELINE = "pipeline"
    CLIENT_IP = "client_ip"
    METHOD = "method"


# BufferFilter's set field for each click-to-filter column.
_SET_FIELDS: Final = {
    Column.STATUS: "statuses",
    Column.FEED: "feeds",
    Column.INTENT: "intents",
    Column.HTTP_STATUS: "http_statuses",
    Column.KEY: "keys",
    Column.ERROR: "errors",
}
# Columns whose clicked value becomes the free text (they have no facet of their own).
_TEXT_COLUMNS: Final = frozenset(
    {
        Column.REQUEST_ID,
        Column.CORRELATION_ID,
        Column.IDEMPOTENCY_KEY,
        Column.PIPELINE,
        Column.CLIENT_IP,
    }
)


@dataclass(frozen=True)
class BufferFilter:
    """What the view shows: each field empty or None means "not filtered on"."""

    statuses: frozenset[str] = frozenset()
    feeds: frozenset[str] = frozenset()
    intents: frozenset[str] = frozenset()
    http_statuses: frozenset[int] = frozenset()  # 0: no HTTP status (pipeline events)
    keys: frozenset[str] = frozenset()  # the shown key, prefix…last4
    errors: frozenset[str] = frozenset()  # error labels (error_label)
    since: float | None = None  # epoch seconds, inclusive
    until: float | None = None  # exclusive
    text: str = ""  # case-insensitive substring of ids, keys and category values

    def with_value(self, column: Column, value: object) -> BufferFilter:
        """This filter narrowed to one clicked value of `column` (replacing that column's
        values: a click means "show me this one")."""
        if column in _SET_FIELDS:
            if column is Column.HTTP_STATUS:
                value = 0 if value is None else int(value)  # type: ignore[call-overload]
            elif value is None:
                raise ValueError(f"no value to filter {column.value} on")
            return replace(self, **cast(dict[str, Any], {_SET_FIELDS[column]: frozenset({value})}))
        if column is Column.TIME:
            if isinstance(value, tuple) and len(value) == 2:
                since, until = value
                return replace(
                    self,
                    since=None if since is None else float(since),
                    until=None if until is None else float(until),
                )
            raise ValueError("a time filter takes a (since, until) pair")
        if column in _TEXT_COLUMNS or column is Column.METHOD:
            if value is None or value == "":
                raise ValueError(f"no value to filter {column.value} on")
            return replace(self, text=str(value))
        raise ValueError(f"{column.value} cannot be filtered on by value")

    def without(self, column: Column) -> BufferFilter:
        """This filter no longer filtering on `column`."""
        if column in _SET_FIELDS:
            return replace(self, **cast(dict[str, Any], {_SET_FIELDS[column]: frozenset()}))
        if column is Column.TIME:
            return replace(self, since=None, until=None)
        if column in _TEXT_COLUMNS or column is Column.METHOD:
            return replace(self, text="")
        return self

    def is_empty(self) -> bool:
        """True when nothing is filtered."""
        return self == BufferFilter()


@dataclass(frozen=True)
class Selection:
    """The result of a filter: the slots to show, newest first."""

    slots: NDArray[np.int32]
    generation: int

    def __len__(self) -> int:
        """How many entries were selected."""
        return int(self.slots.shape[0])


@dataclass(frozen=True)
class ErrorGroup:
    """Entries with the same error label and feed."""

    error: str
    feed: str | None
    count: int
    latest: float
    http_status: int | None


@dataclass(frozen=True)
class Histogram:
    """Entries per status and time bin: `counts[status_code, bin]`."""

    start: float
    end: float
    bin_seconds: float
    counts: NDArray[np.int64] = field(compare=False)

    def bin_range(self, index: int) -> tuple[float, float]:
        """The [since, until) of bin `index`."""
        since = self.start + index * self.bin_seconds
        return since, min(self.end, since + self.bin_seconds)


class AddResult(NamedTuple):
    """What `add_newer` did: entries added, oldest evicted (or never kept because the
    batch alone was over capacity), and skipped (already held, repeated, or older than
    the newest held)."""

    added: int
    evicted: int
    skipped: int


# The contract's code of each status; an ingest request's 404 is its stream's.
_HTTP_CODES: Final = {**ERROR_CODE_BY_STATUS, 404: "STREAM_NOT_FOUND"}
# Refusals whose first message says what was wrong with the payload: the label keeps it.
# Others' messages carry per-request details (retry seconds, sizes) that would split groups.
_LABEL_MESSAGE_STATUSES: Final = frozenset({400, 409, 422})
_INDEX = re.compile(r"\[\d+\]")
# What stands for any item index in a label: `[7].id` and `[699].id` are one problem.
_ANY_INDEX: Final = "[*]"


def _names(message: str, field: str) -> bool:
    """Whether `message` (indices normalised) already names `field` as a whole word."""
    return re.search(rf"(?<![\w.\]]){re.escape(field)}(?![\w\[])", message) is not None


def _problem(error: LogItemError) -> str:
    """`message (field)` with every item index as `[*]`, in the message as in the field,
    so that one problem in many items (or many requests) makes one group; the field is
    left out when the message names it already."""
    message = _INDEX.sub(_ANY_INDEX, " ".join(error.message.split()))
    if error.field:
        name = _INDEX.sub("", error.field).strip(".")
        shown = _INDEX.sub(_ANY_INDEX, error.field)
        if message and (_names(message, shown) or (name and _names(message, name))):
            return message
        if name:
            return f"{message} ({name})" if message else name
    return message


def error_label(entry: LogEntry) -> str | None:
    """The entry's error as one groupable label, None when it has none.

    A refused request: `"<status> <contract code>"`, plus the first problem for 400, 409
    and 422 (`"400 INVALID_PAYLOAD: required field missing (sku)"`). A processed request
    with item errors: `"items: <first message> (<field>)"`. A pipeline event with an error:
    `"<intent>: <message>"`.
    """
    status = entry.http_status
    first = entry.errors[0] if entry.errors else None
    if status is not None and status >= 400:
        code = _HTTP_CODES.get(status, "INTERNAL" if status >= 500 else "ERROR")
        label = f"{status} {code}"
        if status in _LABEL_MESSAGE_STATUSES and first is not None:
            problem = _problem(first)
            if problem:
                label = f"{label}: {problem}"
        return label[:_LABEL_LIMIT]
    if first is None:
        return None if entry.error_count <= 0 else "items: failed"
    scope = "items" if status is not None or not entry.intent else entry.intent
    return f"{scope}: {_problem(first) or 'failed'}"[:_LABEL_LIMIT]


class _Category:
    """The values of a category column; a value's code is its index in `values`."""

    def __init__(self, initial: Iterable[object]) -> None:
        self.values: list[object] = list(initial)
        self._codes: dict[object, int] = {value: code for code, value in enumerate(self.values)}

    def code(self, value: object) -> int:
        """The code of `value`, added if new."""
        code = self._codes.get(value)
        if code is None:
            code = self._codes[value] = len(self.values)
            self.values.append(value)
        return code

    def codes(self, values: list[object]) -> list[int]:
        """The codes of many values, new ones added."""
        found = list(map(self._codes.get, values))
        if None not in found:
            return cast(list[int], found)
        code = self.code
        return [code(v) if c is None else c for c, v in zip(found, values, strict=True)]

    def lookup(self, value: object) -> int | None:
        """The code of `value`, None when the column never had it."""
        return self._codes.get(value)

    def table(self, wanted: Callable[[object], bool]) -> NDArray[np.bool_]:
        """A lookup table: for each code, whether its value is wanted."""
        # The list may grow on another thread; a snapshot of its length keeps the table's
        # size and the values it judged consistent.
        values = self.values[: len(self.values)]
        return np.fromiter((wanted(v) for v in values), np.bool_, len(values))


# Category columns and the entry field each codes. STATUS codes are STATUSES' indexes.
_CATEGORY_FIELDS: Final = {
    "status": "processing_status",
    "feed": "feed",
    "intent": "intent",
    "http": "http_status",
    "key": "key",
    "client_ip": "client_ip",
    "pipeline": "pipeline_id",
}
# Fields only the detail shows, coded together as one (method, auth_via, key_id) value: a
# handful of combinations, one byte an entry instead of three.
_ORIGIN_FIELDS: Final = ("method", "auth_via", "key_id")
# Categories the free text searches (the error label's too, and the ids).
_TEXT_CATEGORIES: Final = ("feed", "intent", "key", "client_ip", "pipeline", "error")
# Each category column's (category, part of its tuple values or None for the whole value).
_COLUMN_CATEGORY: Final[dict[Column, tuple[str, int | None]]] = {
    Column.STATUS: ("status", None),
    Column.FEED: ("feed", None),
    Column.INTENT: ("intent", None),
    Column.HTTP_STATUS: ("http", None),
    Column.KEY: ("key", None),
    Column.ERROR: ("error", None),
    Column.PIPELINE: ("pipeline", None),
    Column.CLIENT_IP: ("client_ip", None),
    Column.METHOD: ("origin", 0),
}
_UINT32_MAX: Final = (1 << 32) - 1
_HALF_SPAN: Final = 1 << 31
_CODE_TYPES: Final = (np.uint8, np.uint16, np.uint32)


def _code_type(largest: int) -> type[np.unsignedinteger[Any]]:
    """The narrowest unsigned type holding `largest`."""
    for kind in _CODE_TYPES:
        if largest <= np.iinfo(kind).max:
            return kind
    raise OverflowError("over 4 billion distinct values")


_ALPHANUMERIC_BYTES: Final = np.zeros(256, np.bool_)
_ALPHANUMERIC_BYTES[list(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")] = True


def _id_rows(values: list[str | None], prefix: str) -> tuple[NDArray[np.uint8], list[int]]:
    """The packed rows of ids of the sandbox's form (zeros for others) and the positions
    of the others (None or another form), checked for a whole page at once."""
    rows, others = _id_text_rows(values, prefix)
    return pack(rows, rows[:, 0] != 0), others


def _id_text_rows(values: list[str | None], prefix: str) -> tuple[NDArray[np.uint8], list[int]]:
    """The 26 ASCII bytes of each id of the sandbox's form (zeros for others), and the
    positions of the others (None or another form)."""
    width = len(prefix) + ID_WIDTH
    count = len(values)
    joined: bytes | None = None
    # None (no correlation id) as a row that fails the prefix test below.
    texts = [("\0" * width if v is None else v) for v in values]
    if min(map(len, texts)) == max(map(len, texts)) == width:
        try:
            joined = "".join(texts).encode("ascii")
        except UnicodeEncodeError:
            joined = None
    if joined is None:
        found = [_id_body(v, prefix) for v in values]
        others = [i for i, body in enumerate(found) if body is None and values[i] is not None]
        blank = bytes(ID_WIDTH)
        joined_rows = b"".join(blank if body is None else body for body in found)
        return np.frombuffer(joined_rows, np.uint8).reshape(count, ID_WIDTH), others
    rows = np.frombuffer(joined, np.uint8).reshape(count, width)
    standard = (rows[:, : len(prefix)] == np.frombuffer(prefix.encode(), np.uint8)).all(axis=1)
    standard &= _ALPHANUMERIC_BYTES[rows[:, len(prefix) :]].all(axis=1)
    kept = rows[:, len(prefix) :].copy()
    kept[~standard] = 0
    others = [i for i in np.flatnonzero(~standard).tolist() if values[i] is not None]
    return kept, others


def _may_have_error(entry: LogEntry) -> bool:
    """Whether error_label can be other than None (a quick test first)."""
    return bool(entry.errors) or entry.error_count > 0 or (entry.http_status or 0) >= 400


def _id_body(value: str | None, prefix: str) -> bytes | None:
    """The 26 alphanumerics of an id of the sandbox's form, None for any other form."""
    if value is None or len(value) != len(prefix) + ID_WIDTH or not value.startswith(prefix):
        return None
    body = value[len(prefix) :]
    return body.encode("ascii") if body.isascii() and body.isalnum() else None


@dataclass(frozen=True)
class _View:
    """One consistent state of the buffer: held slots [lo, hi) at index `slot % size`."""

    generation: int
    lo: int
    hi: int
    size: int
    columns: dict[str, NDArray[Any]]
    # Ids are stored as uint32 offsets from id_base, timestamps as uint32 milliseconds
    # from time_base (both chosen around the first entry): 4 bytes each instead of 8.
    # None: the column had to widen to absolute int64 ids / float64 seconds (a span over
    # 4 billion ids or 49 days, or a timestamp finer than the contract's milliseconds).
    id_base: int | None = 0
    time_base: int | None = 0
    # The category values the codes of these columns index. A category is only appended
    # to, except by `_compact_categories`, which makes a new one (and new code columns).
    categories: dict[str, _Category] = field(default_factory=dict)

    def ids(self, index: NDArray[np.int64] | slice) -> NDArray[np.int64]:
        """The ids at array positions `index`."""
        stored = self.columns["id"][index].astype(np.int64)
        return stored if self.id_base is None else stored + self.id_base

    def times(self, index: NDArray[np.int64] | slice) -> NDArray[np.float64]:
        """The timestamps (epoch seconds) at array positions `index`."""
        stored = self.columns["time"][index]
        if self.time_base is None:
            return np.asarray(stored, np.float64)
        return (stored.astype(np.float64) + self.time_base) / 1000.0

    def time_mask(
        self, start: int, end: int, since: float | None, until: float | None
    ) -> NDArray[np.bool_] | None:
        """Which entries of a run have since <= timestamp < until (None: all)."""
        stored = self.columns["time"][start:end]
        mask: NDArray[np.bool_] | None = None
        for bound, lower in ((since, True), (until, False)):
            if bound is None:
                continue
            if self.time_base is None:
                part = np.asarray(stored >= bound if lower else stored < bound)
            else:
                # The same comparison in stored milliseconds: the first millisecond whose
                # timestamp (k / 1000 as a float, as `times` rebuilds it) reaches `bound`.
                limit = _first_ms_at(bound) - self.time_base
                if limit <= 0:
                    part = np.full(end - start, lower)
                elif limit > _UINT32_MAX:
                    part = np.full(end - start, not lower)
                else:
                    threshold = np.uint32(limit)
                    part = np.asarray(stored >= threshold if lower else stored < threshold)
            mask = part if mask is None else mask & part
        return mask

    def segments(self) -> list[tuple[int, int, int]]:
        """The held slots as (first index, end index, first slot) runs, oldest first."""
        if self.hi == self.lo:
            return []
        start = self.lo % self.size
        count = self.hi - self.lo
        if start + count <= self.size:
            return [(start, start + count, self.lo)]
        first = self.size - start
        return [(start, self.size, self.lo), (0, count - first, self.lo + first)]


_NUMERIC: Final = ("items", "errors_n")
_COMPACT_FROM: Final = 4096  # distinct values a category may hold before compacting


def _fresh_categories() -> dict[str, _Category]:
    """Empty categories: status with STATUSES' codes, the others with None as code 0."""
    return {
        name: _Category(STATUSES if name == "status" else (None,))
        for name in (*_CATEGORY_FIELDS, "error", "origin")
    }


def _first_ms_at(seconds: float) -> int:
    """The least whole millisecond k with k / 1000 >= seconds (float division)."""
    if math.isnan(seconds):
        return 1 << 62  # nothing compares to NaN: no entry is at or after it
    if abs(seconds) > 1e12:  # beyond year 33,000 (or infinite): before or after every entry;
        # nearer, whole milliseconds are exact floats and the steps below end at once
        return -(1 << 62) if seconds < 0 else 1 << 62
    k = math.ceil(seconds * 1000)
    while (k - 1) / 1000 >= seconds:
        k -= 1
    while k / 1000 < seconds:
        k += 1
    return k


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _writer(
    method: Callable[Concatenate[LogBuffer, _P], _R],
) -> Callable[Concatenate[LogBuffer, _P], _R]:
    """A LogBuffer method that changes it: one such call at a time."""

    def locked(self: LogBuffer, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._writing:
            return method(self, *args, **kwargs)

    functools.update_wrapper(locked, method)  # its name and docstring
    return locked


class LogBuffer:
    """Up to `capacity` log entries in numpy columns, in id order (see the module)."""

    def __init__(self, capacity: int = MAX_ENTRIES) -> None:
        if not 1 <= capacity <= MAX_ENTRIES * 16:
            raise ValueError(f"capacity must be 1..{MAX_ENTRIES * 16}")
        self.capacity = capacity
        self.generation = 0
        # One writer at a time (the loader adds pages in a worker thread while the live
        # tail may add on the UI thread); readers need no lock (see the module).
        self._writing = threading.Lock()
        self._categories = _fresh_categories()
        # A category is compacted when it holds more values than this (see
        # _compact_categories): values of evicted entries would otherwise pile up
        # forever under a live tail (client IPs, error labels with details).
        self._compact_at: dict[str, int] = {}
        self._other_requests = SparseStrings()
        self._other_correlations = SparseStrings()
        self._idempotency = SparseStrings()
        # The empty filter's slots, (lo, hi) they were made for, held weakly (see select).
        self._all_slots: tuple[tuple[int, int], weakref.ref[NDArray[np.int32]]] | None = None
        self._view = _View(
            0, _ORIGIN, _ORIGIN, 0, self._allocate(0, fresh=True), categories=dict(self._categories)
        )

    # -- storage --------------------------------------------------------------------

    def _allocate(self, size: int, *, fresh: bool = False) -> dict[str, NDArray[Any]]:
        """Empty columns of `size` elements (codes in each category's current width, or
        the narrowest when `fresh`)."""
        old = None if fresh else self._view
        columns: dict[str, NDArray[Any]] = {
            "duration": zeros(size, np.float32),
            "request": zeros((size, PACKED_WIDTH), np.uint8),
            "correlation": zeros((size, PACKED_WIDTH), np.uint8),
        }
        for name in (*self._categories, *_NUMERIC, "id", "time"):
            if old is not None:
                kind = old.columns[name].dtype
            else:
                kind = np.dtype(np.uint32 if name in ("id", "time") else np.uint8)
            columns[name] = zeros(size, kind)
        return columns

    def _room_for(self, count: int) -> _View:
        """The current view, its columns grown (re-placed by slot) to hold `count`."""
        view = self._view
        if count <= view.size:
            return view
        size = min(self.capacity, max(count, 2 * view.size, _FIRST_SIZE))
        columns = self._allocate(size)
        # Each run of held slots is contiguous in the old arrays and at most two runs in
        # the new ones: slice copies, no index arrays the size of the buffer.
        for start, end, first_slot in view.segments():
            at = first_slot % size
            head = min(end - start, size - at)
            for name, array in view.columns.items():
                columns[name][at : at + head] = array[start : start + head]
                columns[name][: end - start - head] = array[start + head : end]
        self._view = replace(view, size=size, columns=columns)
        return self._view

    def _widened(self, view: _View, name: str, largest: int) -> _View:
        """`view` with column `name` wide enough for `largest`."""
        array = view.columns[name]
        if largest <= np.iinfo(array.dtype).max:
            return view
        wider = zeros(array.shape, _code_type(largest))
        wider[...] = array
        return replace(view, columns={**view.columns, name: wider})

    @staticmethod
    def _based(view: _View, ids: NDArray[np.int64], times: NDArray[np.float64]) -> _View:
        """`view` with id and time columns that can hold these ids and timestamps: bases
        chosen around them when the buffer is empty, absolute columns when they do not
        fit the offsets."""
        columns = view.columns
        empty = view.hi == view.lo
        id_base = view.id_base
        if id_base is not None:
            if empty:
                id_base = max(0, int(ids.min()) - _HALF_SPAN)
            if int(ids.min()) < id_base or int(ids.max()) - id_base > _UINT32_MAX:
                absolute = zeros(view.size, np.int64)
                absolute[...] = columns["id"].astype(np.int64) + id_base
                columns = {**columns, "id": absolute}
                id_base = None
        time_base = view.time_base
        if time_base is not None:
            ms = np.round(times * 1000.0)
            exact = bool(np.all(ms / 1000.0 == times)) and bool(np.isfinite(ms).all())
            if exact and empty:
                time_base = int(ms.min()) - _HALF_SPAN
            if not exact or ms.min() < time_base or ms.max() - time_base > _UINT32_MAX:
                seconds = zeros(view.size, np.float64)
                seconds[...] = (columns["time"].astype(np.float64) + time_base) / 1000.0
                columns = {**columns, "time": seconds}
                time_base = None
        return replace(view, columns=columns, id_base=id_base, time_base=time_base)

    def _write(self, view: _View, first: int, entries: Sequence[LogEntry], *, older: bool) -> _View:
        """Write `entries` (ascending ids) at slots first, first+1, ...; returns the view
        with any widened columns. `older`: below every held slot (else above)."""
        # Field by field with map/attrgetter and dict lookups in C: ~3x faster than a
        # Python loop over the entries (a 1,000-entry page took ~16 ms that way).
        count = len(entries)
        index = np.arange(first, first + count, dtype=np.int64) % view.size
        values: dict[str, list[int]] = {}
        for name, attribute in _CATEGORY_FIELDS.items():
            values[name] = self._categories[name].codes(list(map(attrgetter(attribute), entries)))
        values["error"] = self._categories["error"].codes(
            [error_label(e) if _may_have_error(e) else None for e in entries]
        )
        values["origin"] = self._categories["origin"].codes(
            list(zip(*(map(attrgetter(a), entries) for a in _ORIGIN_FIELDS), strict=True))
        )
        for name, column in values.items():
            view = self._widened(view, name, max(column))
            view.columns[name][index] = column
        for name, attribute in (("items", "items_received"), ("errors_n", "error_count")):
            counts = np.clip(
                np.array(list(map(attrgetter(attribute), entries)), np.float64), 0, _UINT32_MAX
            )
            view = self._widened(view, name, int(counts.max()))
            view.columns[name][index] = counts
        ids = np.array(list(map(attrgetter("id"), entries)), np.int64)
        times = np.array(list(map(attrgetter("timestamp"), entries)), np.float64)
        view = self._based(view, ids, times)
        columns = view.columns
        columns["id"][index] = ids if view.id_base is None else ids - view.id_base
        if view.time_base is None:
            columns["time"][index] = times
        else:
            columns["time"][index] = np.round(times * 1000.0) - view.time_base
        durations = list(map(attrgetter("duration_ms"), entries))
        columns["duration"][index] = np.array(durations, np.float64)  # None reads as NaN
        for name, attribute, prefix, store in (
            ("request", "request_id", REQUEST_PREFIX, self._other_requests),
            ("correlation", "correlation_id", CORRELATION_PREFIX, self._other_correlations),
        ):
            texts = list(map(attrgetter(attribute), entries))
            rows, others = _id_rows(texts, prefix)
            columns[name][index] = rows
            self._store_side(store, older, [first + i for i in others], [texts[i] for i in others])
        keys = list(map(attrgetter("idempotency_key"), entries))
        keyed = [i for i, k in enumerate(keys) if k is not None]
        self._store_side(
            self._idempotency, older, [first + i for i in keyed], [keys[i] for i in keyed]
        )
        return view

    @staticmethod
    def _store_side(store: SparseStrings, older: bool, slots: list[int], values: list[str]) -> None:
        """Put strings in a side arena, on the older or newer side of what it holds."""
        if not slots:
            return
        if older:
            store.add_older(slots, values)
        else:
            store.add_newer(slots, values)

    def _compact_categories(self) -> None:
        """Drop the values no held entry uses from categories grown past their mark,
        recoding their columns (new arrays and a new category: a reader keeps the
        consistent pair it took). Amortised: the mark doubles with what stays."""
        view = self._view
        changed = False
        for name, category in list(self._categories.items()):
            total = len(category.values)
            if name == "status" or total <= self._compact_at.get(name, _COMPACT_FROM):
                continue
            used = np.zeros(total, np.bool_)
            used[0] = True  # None (code 0) stays first
            for start, end, _slot in view.segments():
                used |= np.bincount(view.columns[name][start:end], minlength=total) > 0
            kept = np.flatnonzero(used)
            self._compact_at[name] = max(_COMPACT_FROM, 2 * kept.shape[0])
            if kept.shape[0] * 2 > total:
                continue
            recode = np.zeros(total, np.uint32)
            recode[kept] = np.arange(kept.shape[0], dtype=np.uint32)
            column = zeros(view.size, _code_type(kept.shape[0] - 1))
            for start, end, _slot in view.segments():
                column[start:end] = recode[view.columns[name][start:end]]
            self._categories[name] = _Category(category.values[c] for c in kept.tolist())
            view = replace(view, columns={**view.columns, name: column})
            changed = True
        if changed:
            self._publish(view, view.lo, view.hi)

    def _publish(self, view: _View, lo: int, hi: int) -> None:
        """Make a new state visible (after its arrays are written)."""
        self.generation += 1
        self._view = replace(
            view, generation=self.generation, lo=lo, hi=hi, categories=dict(self._categories)
        )

    def _rebase(self) -> None:
        """Renumber the slots down when the newest nears int32's end (a billion entries
        added): by a multiple of the size, so nothing moves in the arrays."""
        view = self._view
        shift = (view.lo - _ORIGIN) // max(view.size, 1) * max(view.size, 1)
        if shift <= 0:
            raise OverflowError("the buffer's slots are exhausted")
        for store in (self._other_requests, self._other_correlations, self._idempotency):
            store.shift(-shift)
        self._publish(view, view.lo - shift, view.hi - shift)

    # -- adding ----------------------------------------------------------------------

    def __len__(self) -> int:
        """Entries held."""
        view = self._view
        return view.hi - view.lo

    @_writer
    def add_older(self, entries: Sequence[LogEntry]) -> int:
        """Add a page of older entries (from `LogsApi.query`, newest first); entries not
        older than the oldest held are skipped. When full, adds what fits (the newest of
        the page) and returns how many were added."""
        oldest = self.oldest_id
        by_id = {e.id: e for e in entries if oldest is None or e.id < oldest}
        fresh = [by_id[i] for i in sorted(by_id)]
        room = self.capacity - len(self)
        if len(fresh) > room:
            fresh = fresh[len(fresh) - room :]
        if not fresh:
            return 0
        view = self._room_for(len(self) + len(fresh))
        first = view.lo - len(fresh)
        view = self._write(view, first, fresh, older=True)
        self._publish(view, first, view.hi)
        return len(fresh)

    @_writer
    def add_newer(self, entries: Sequence[LogEntry]) -> AddResult:
        """Add entries from the live stream (any order, newer than what is held); evicts
        the oldest when over capacity. Ids held, repeated, or not newer than the newest
        held are skipped: nothing is shown twice."""
        newest = self.newest_id
        by_id = {e.id: e for e in entries if newest is None or e.id > newest}
        fresh = [by_id[i] for i in sorted(by_id)]
        skipped = len(entries) - len(fresh)
        never_kept = max(0, len(fresh) - self.capacity)
        fresh = fresh[never_kept:]
        if not fresh:
            return AddResult(0, 0, skipped)
        if self._view.hi + len(fresh) > _SLOT_LIMIT:
            self._rebase()
        evicted = max(0, len(self) + len(fresh) - self.capacity)
        view = self._view
        if evicted:
            # The evicted slots are written over below; publish the shorter buffer first
            # so that no reader taking a view from now on sees them as held.
            lo = view.lo + evicted
            for store in (self._other_requests, self._other_correlations, self._idempotency):
                store.evict_below(lo)
            self._publish(view, lo, view.hi)
            self._compact_categories()
        view = self._room_for(len(self) + len(fresh))
        view = self._write(view, view.hi, fresh, older=False)
        self._publish(view, view.lo, view.hi + len(fresh))
        return AddResult(len(fresh), evicted + never_kept, skipped)

    @_writer
    def update(self, entries: Sequence[LogEntry]) -> int:
        """Refresh the status, HTTP status, error, items and duration of held entries
        (matched by id); returns how many changed."""
        # Vectorised like _write: the live tail refreshes up to 3,000 entries every 2 s
        # on the UI thread (a Python loop over them cost ~20 µs an entry).
        latest = list({e.id: e for e in entries}.values())  # an id given twice: its last
        if not latest:
            return 0
        view = self._view
        indexes = self._indexes_of(view, np.array([e.id for e in latest], np.int64))
        found = np.flatnonzero(indexes >= 0)
        if found.shape[0] == 0:
            return 0
        held = [latest[i] for i in found.tolist()]
        at = indexes[found]
        categories = self._categories
        new: dict[str, NDArray[Any]] = {
            "status": np.array(categories["status"].codes([e.processing_status for e in held])),
            "http": np.array(categories["http"].codes([e.http_status for e in held])),
            "error": np.array(
                categories["error"].codes(
                    [error_label(e) if _may_have_error(e) else None for e in held]
                )
            ),
            "items": np.array([_count(e.items_received) for e in held]),
            "errors_n": np.array([_count(e.error_count) for e in held]),
        }
        durations = np.array([e.duration_ms for e in held], np.float64).astype(np.float32)
        old = view.columns["duration"][at]
        differs = ~((old == durations) | (np.isnan(old) & np.isnan(durations)))
        for name, values in new.items():
            view = self._widened(view, name, int(values.max()))
            differs |= view.columns[name][at] != values
        if not differs.any():
            return 0
        rows = at[differs]
        for name, values in new.items():
            view.columns[name][rows] = values[differs]
        view.columns["duration"][rows] = durations[differs]
        self._publish(view, view.lo, view.hi)
        return int(differs.sum())

    @_writer
    def clear(self) -> None:
        """Drop every entry (the columns shrink back)."""
        self._other_requests.clear()
        self._other_correlations.clear()
        self._idempotency.clear()
        self._categories = _fresh_categories()
        self._compact_at = {}
        empty = _View(self.generation, _ORIGIN, _ORIGIN, 0, self._allocate(0, fresh=True))
        self._publish(empty, _ORIGIN, _ORIGIN)

    # -- reading one entry -------------------------------------------------------------

    def _indexes_of(self, view: _View, ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """The array index of each id (-1: not held): a binary search per run."""
        result = np.full(ids.shape[0], -1, np.int64)
        stored = view.columns["id"]
        if view.id_base is None:
            wanted, valid = ids, np.ones(ids.shape[0], np.bool_)
        else:
            # Searched in the column's own type: a mixed-type search would convert the
            # whole column first.
            offsets = ids - view.id_base
            valid = (offsets >= 0) & (offsets <= _UINT32_MAX)
            wanted = np.where(valid, offsets, 0).astype(stored.dtype)
        for start, end, _slot in view.segments():
            run = stored[start:end]
            at = np.searchsorted(run, wanted)
            inside = valid & (at < run.shape[0])
            found = inside.copy()
            found[inside] = run[at[inside]] == wanted[inside]
            result[found] = at[found] + start
        return result

    def has_id(self, entry_id: int) -> bool:
        """Whether the entry with this id is held."""
        return self.slot_of(entry_id) is not None

    def slot_of(self, entry_id: int) -> int | None:
        """The slot of the entry with this id, None when not held."""
        view = self._view
        index = int(self._indexes_of(view, np.array([entry_id], np.int64))[0])
        if index < 0:
            return None
        return self._slot_at(view, index)

    @staticmethod
    def _slot_at(view: _View, index: int) -> int:
        """The slot stored at array index `index`."""
        return view.lo + (index - view.lo % view.size) % view.size

    def holds(self, slot: int) -> bool:
        """Whether `slot` names an entry held now (not evicted since a selection)."""
        view = self._view
        return view.lo <= slot < view.hi

    def still_held(self, sel: Selection) -> NDArray[np.int32]:
        """A selection's slots without those evicted since it was made (same order)."""
        view = self._view
        slots = sel.slots
        if sel.generation == view.generation:
            return slots
        return slots[(slots >= view.lo) & (slots < view.hi)]

    def _index(self, view: _View, slot: int) -> int:
        """The array index of a held slot (KeyError when not held)."""
        if not view.lo <= slot < view.hi:
            raise KeyError(f"slot {slot} is not held")
        return slot % view.size

    def entry_id(self, slot: int) -> int:
        """The id of the entry at `slot`."""
        view = self._view
        index = self._index(view, slot)
        return int(view.ids(np.array([index]))[0])

    def _edge(self, name: str, newest: bool) -> float | int | None:
        """A column's value at the oldest or newest entry."""
        view = self._view
        if view.hi == view.lo:
            return None
        index = np.array([(view.hi - 1 if newest else view.lo) % view.size])
        return int(view.ids(index)[0]) if name == "id" else float(view.times(index)[0])

    @property
    def newest_id(self) -> int | None:
        """The id of the newest entry held."""
        value = self._edge("id", True)
        return None if value is None else int(value)

    @property
    def oldest_id(self) -> int | None:
        """The id of the oldest entry held."""
        value = self._edge("id", False)
        return None if value is None else int(value)

    @property
    def newest_time(self) -> float | None:
        """The timestamp of the newest entry held (by id)."""
        value = self._edge("time", True)
        return None if value is None else float(value)

    @property
    def oldest_time(self) -> float | None:
        """The timestamp of the oldest entry held (by id)."""
        value = self._edge("time", False)
        return None if value is None else float(value)

    def _id_text(self, view: _View, name: str, index: int, slot: int) -> str | None:
        """A request or correlation id as the server sent it."""
        body = text_of(view.columns[name][index])
        if body is not None:
            prefix = REQUEST_PREFIX if name == "request" else CORRELATION_PREFIX
            return prefix + body
        store = self._other_requests if name == "request" else self._other_correlations
        return store.get(slot)

    def value(self, slot: int, column: Column) -> object:
        """What `column` shows for the entry at `slot` (None when the slot is not held)."""
        view = self._view
        if not view.lo <= slot < view.hi:
            return None
        return self._value(view, slot % view.size, slot, column)

    def _value(self, view: _View, index: int, slot: int, column: Column) -> object:
        """value() on a given view."""
        columns = view.columns
        coded = _COLUMN_CATEGORY.get(column)
        if coded is not None:
            name, part = coded
            return _part(view.categories[name].values[int(columns[name][index])], part)
        if column is Column.TIME:
            stored = columns["time"][index]
            if view.time_base is None:
                return float(stored)
            return (int(stored) + view.time_base) / 1000.0  # as `times` rebuilds it
        if column is Column.ITEMS:
            return int(columns["items"][index])
        if column is Column.DURATION:
            duration = float(columns["duration"][index])
            # float32 keeps ~7 digits: round back to the contract's millisecond thousandths.
            return None if np.isnan(duration) else round(duration, 3)
        if column is Column.REQUEST_ID:
            return self._id_text(view, "request", index, slot) or ""
        if column is Column.CORRELATION_ID:
            return self._id_text(view, "correlation", index, slot)
        if column is Column.IDEMPOTENCY_KEY:
            return self._idempotency.get(slot)
        raise ValueError(f"unknown column {column}")

    def entry(self, slot: int) -> LogEntry:
        """The entry at `slot` rebuilt from the columns (no path; of its errors only the
        count and the first one's label)."""
        view = self._view
        index = self._index(view, slot)
        columns = view.columns

        def category(name: str) -> object:
            return view.categories[name].values[int(columns[name][index])]

        label = category("error")
        origin = category("origin")
        method, auth_via, key_id = (
            cast(tuple[object, object, object], origin) if origin else (None, None, None)
        )
        at = np.array([index])
        return LogEntry(
            id=int(view.ids(at)[0]),
            timestamp=float(view.times(at)[0]),
            request_id=str(self._value(view, index, slot, Column.REQUEST_ID)),
            correlation_id=self._id_text(view, "correlation", index, slot),
            feed=_str_or_none(category("feed")),
            pipeline_id=_str_or_none(category("pipeline")),
            key=_str_or_none(category("key")),
            key_id=_str_or_none(key_id),
            method=_str_or_none(method),
            path=None,
            intent=_str_or_none(category("intent")),
            http_status=_int_or_none(category("http")),
            items_received=int(columns["items"][index]),
            processing_status=str(category("status")),
            errors=(LogItemError(None, None, str(label)),) if label is not None else (),
            error_count=int(columns["errors_n"][index]),
            duration_ms=_float_or_none(self._value(view, index, slot, Column.DURATION)),
            client_ip=_str_or_none(category("client_ip")),
            auth_via=_str_or_none(auth_via),
            idempotency_key=self._idempotency.get(slot),
        )

    def column_values(
        self, slots: NDArray[np.int32] | Sequence[int], column: Column
    ) -> list[object]:
        """value() of many slots at once (vectorised gathers; None for slots not held)."""
        view = self._view
        wanted = np.asarray(slots, np.int64)
        held = (wanted >= view.lo) & (wanted < view.hi)
        index = wanted % max(view.size, 1)
        coded = _COLUMN_CATEGORY.get(column)
        result: list[object]
        if coded is not None:
            result = self._category_values(view, *coded, index)
        elif column is Column.TIME:
            result = view.times(index).tolist()
        elif column is Column.ITEMS:
            result = view.columns["items"][index].tolist()
        elif column is Column.DURATION:
            durations = view.columns["duration"][index].astype(np.float64).round(3)
            result = [None if d != d else d for d in durations.tolist()]  # NaN: none
        elif column in (Column.REQUEST_ID, Column.CORRELATION_ID):
            result = self._id_texts(view, column, index, wanted)
        else:
            result = [
                self._value(view, i, s, column)
                for i, s in zip(index.tolist(), wanted.tolist(), strict=True)
            ]
        if not held.all():
            for position in np.flatnonzero(~held).tolist():
                result[position] = None
        return result

    def _id_texts(
        self, view: _View, column: Column, index: NDArray[np.int64], slots: NDArray[np.int64]
    ) -> list[object]:
        """Request or correlation ids at array positions `index` (unpacked together: an
        export asks for thousands at a time)."""
        request = column is Column.REQUEST_ID
        rows = view.columns["request" if request else "correlation"][index]
        packed = held(rows).tolist()
        joined = unpack(rows).tobytes().decode("ascii")
        prefix = REQUEST_PREFIX if request else CORRELATION_PREFIX
        store = self._other_requests if request else self._other_correlations
        result: list[object] = []
        for position, (slot, inline) in enumerate(zip(slots.tolist(), packed, strict=True)):
            if inline:
                start = position * ID_WIDTH
                result.append(prefix + joined[start : start + ID_WIDTH])
            else:
                other = store.get(slot)
                result.append("" if other is None and request else other)
        return result

    def export_columns(self, slots: NDArray[np.int32]) -> dict[str, list[object]]:
        """The exported fields (EXPORT_FIELDS) of many held slots, by field name."""
        view = self._view
        index = np.asarray(slots, np.int64) % max(view.size, 1)
        columns = view.columns

        def category(name: str, part: int | None = None) -> list[object]:
            return self._category_values(view, name, part, index)

        return {
            "id": view.ids(index).tolist(),
            "timestamp": view.times(index).tolist(),
            "processing_status": category("status"),
            "feed": category("feed"),
            "intent": category("intent"),
            "http_status": category("http"),
            "items_received": columns["items"][index].tolist(),
            "request_id": self.column_values(slots, Column.REQUEST_ID),
            "correlation_id": self.column_values(slots, Column.CORRELATION_ID),
            "duration_ms": self.column_values(slots, Column.DURATION),
            "key": category("key"),
            "error_count": columns["errors_n"][index].tolist(),
            "error": category("error"),
            "idempotency_key": self.column_values(slots, Column.IDEMPOTENCY_KEY),
            "pipeline_id": category("pipeline"),
            "client_ip": category("client_ip"),
            "method": category("origin", 0),
            "auth_via": category("origin", 1),
        }

    def _category_values(
        self, view: _View, name: str, part: int | None, index: NDArray[np.int64]
    ) -> list[object]:
        """A category column's values (or part of them) at array positions `index`."""
        values = view.categories[name].values
        if part is not None:
            values = [_part(v, part) for v in values[: len(values)]]
        return [values[c] for c in view.columns[name][index].tolist()]

    # -- selecting -----------------------------------------------------------------------

    def select(self, f: BufferFilter) -> Selection:
        """The slots `f` keeps, newest first (vectorised; safe on a worker thread)."""
        view = self._view
        if f.is_empty():
            return Selection(self._everything(view.lo, view.hi), view.generation)
        parts: list[NDArray[np.int64]] = []
        for start, end, first_slot in view.segments():
            mask = self._mask(view, start, end, first_slot, f)
            if mask is None:
                parts.append(np.arange(first_slot, first_slot + end - start, dtype=np.int64))
            else:
                parts.append(np.flatnonzero(mask) + first_slot)
        if not parts:
            return Selection(np.empty(0, np.int32), view.generation)
        slots = np.concatenate(parts)[::-1].astype(np.int32)
        return Selection(slots, view.generation)

    def _everything(self, lo: int, hi: int) -> NDArray[np.int32]:
        """Every held slot, newest first (read-only): the array handed out last time while
        anyone still holds it (the view, facet counts), so an empty filter costs nothing."""
        kept = self._all_slots
        if kept is not None and kept[0] == (lo, hi):
            slots = kept[1]()
            if slots is not None:
                return slots
        slots = np.arange(hi - 1, lo - 1, -1, dtype=np.int32)
        slots.setflags(write=False)  # shared by every caller: nobody may change it
        self._all_slots = ((lo, hi), weakref.ref(slots))
        return slots

    def _codes_in(
        self, view: _View, name: str, start: int, end: int, values: Iterable[object]
    ) -> NDArray[np.bool_]:
        """Which entries of a run have one of `values` in category `name`."""
        category = view.categories[name]
        codes = [c for c in (category.lookup(v) for v in values) if c is not None]
        array = view.columns[name][start:end]
        if not codes:
            return np.zeros(end - start, np.bool_)
        if len(codes) <= 3:
            mask = array == codes[0]
            for code in codes[1:]:
                mask |= array == code
            return np.asarray(mask)
        table = np.zeros(len(category.values), np.bool_)
        table[codes] = True
        return np.asarray(table[array])

    def _mask(
        self, view: _View, start: int, end: int, first_slot: int, f: BufferFilter
    ) -> NDArray[np.bool_] | None:
        """The filter's mask over one run of the arrays (None: everything)."""
        mask: NDArray[np.bool_] | None = None

        def narrow(part: NDArray[np.bool_]) -> None:
            nonlocal mask
            mask = part if mask is None else mask & part

        for name, wanted in (
            ("status", f.statuses),
            ("feed", f.feeds),
            ("intent", f.intents),
            ("key", f.keys),
            ("error", f.errors),
        ):
            if wanted:
                narrow(self._codes_in(view, name, start, end, wanted))
        if f.http_statuses:
            narrow(
                self._codes_in(
                    view, "http", start, end, (None if s == 0 else s for s in f.http_statuses)
                )
            )
        if f.since is not None or f.until is not None:
            timed = view.time_mask(start, end, f.since, f.until)
            if timed is not None:
                narrow(timed)
        if f.text:
            narrow(self._text_mask(view, start, end, first_slot, f.text))
        return mask

    def _text_mask(
        self, view: _View, start: int, end: int, first_slot: int, text: str
    ) -> NDArray[np.bool_]:
        """Entries of a run whose ids, idempotency key or category values contain `text`
        (ASCII case-insensitive in ids and keys, Unicode lower-case in values)."""
        mask = np.zeros(end - start, np.bool_)
        lowered = text.lower()
        for name in _TEXT_CATEGORIES:
            table = view.categories[name].table(
                lambda v: v is not None and lowered in str(v).lower()
            )
            if table.any():
                mask |= table[view.columns[name][start:end]]
        needle = fold(text)
        for name, prefix in (("request", REQUEST_PREFIX), ("correlation", CORRELATION_PREFIX)):
            rows = view.columns[name][start:end]
            mask |= _id_rows_matching(rows, prefix, needle)
        for store in (self._other_requests, self._other_correlations, self._idempotency):
            found = store.search(needle)
            found = found[(found >= first_slot) & (found < first_slot + end - start)]
            mask[found - first_slot] = True
        return mask

    # -- summaries ---------------------------------------------------------------------

    def _held_indexes(self, view: _View, sel: Selection) -> NDArray[np.int64]:
        """The array indexes of a selection's slots still held."""
        slots = sel.slots.astype(np.int64)
        if sel.generation != view.generation:
            slots = slots[(slots >= view.lo) & (slots < view.hi)]
        return slots % max(view.size, 1)

    def histogram(self, sel: Selection, start: float, end: float, bins: int) -> Histogram:
        """Entries of `sel` per status and time bin over [start, end)."""
        if bins < 1 or not end > start:
            raise ValueError("a histogram needs bins >= 1 and end > start")
        view = self._view
        index = self._held_indexes(view, sel)
        width = (end - start) / bins
        times = view.times(index)
        status = view.columns["status"][index].astype(np.int64)
        keep = (times >= start) & (times < end) & (status < len(STATUSES))
        which = np.minimum(((times[keep] - start) / width).astype(np.int64), bins - 1)
        counts = np.bincount(status[keep] * bins + which, minlength=len(STATUSES) * bins)
        return Histogram(start, end, width, counts.reshape(len(STATUSES), bins).astype(np.int64))

    def error_groups(self, sel: Selection, limit: int = 200) -> list[ErrorGroup]:
        """Entries of `sel` with an error, grouped by error label and feed, the biggest
        groups first (then the most recent)."""
        view = self._view
        index = self._held_indexes(view, sel)
        errors = view.columns["error"][index].astype(np.int64)
        with_error = np.flatnonzero(errors)
        if with_error.shape[0] == 0:
            return []
        index = index[with_error]
        errors = errors[with_error]
        feeds = view.columns["feed"][index].astype(np.int64)
        width = len(view.categories["feed"].values)
        keys = errors * width + feeds
        unique, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        times = view.times(index)
        latest = np.full(unique.shape[0], -np.inf)
        np.maximum.at(latest, inverse, times)
        # The selection is newest first: a group's first member is its newest entry.
        first_member = np.full(unique.shape[0], index.shape[0], np.int64)
        np.minimum.at(first_member, inverse, np.arange(index.shape[0]))
        order = np.lexsort((-latest, -counts))[: max(0, limit)]
        categories = view.categories
        groups = []
        for group in order.tolist():
            error_code, feed_code = divmod(int(unique[group]), width)
            http = categories["http"].values[int(view.columns["http"][index[first_member[group]]])]
            groups.append(
                ErrorGroup(
                    error=str(categories["error"].values[error_code]),
                    feed=_str_or_none(categories["feed"].values[feed_code]),
                    count=int(counts[group]),
                    latest=float(latest[group]),
                    http_status=_int_or_none(http),
                )
            )
        return groups

    def facet(self, sel: Selection, column: Column, limit: int = 50) -> list[tuple[object, int]]:
        """The values of a category column in `sel` with their counts, most frequent first."""
        coded = _COLUMN_CATEGORY.get(column)
        if coded is None:
            raise ValueError(f"{column.value} has no facet")
        name, part = coded
        view = self._view
        index = self._held_indexes(view, sel)
        values = view.categories[name].values
        values = values[: len(values)]
        counts = np.bincount(view.columns[name][index], minlength=len(values))
        present = np.flatnonzero(counts).tolist()
        totals: dict[object, int] = {}
        for code in present:
            value = _part(values[code], part)
            totals[value] = totals.get(value, 0) + int(counts[code])
        ranked = sorted(totals.items(), key=lambda item: -item[1])
        return ranked[: max(0, limit)]

    def pending_since(self, max_age: float, now: float) -> float | None:
        """The oldest timestamp of a non-final entry younger than `max_age` seconds."""
        view = self._view
        category = view.categories["status"]
        final = [category.lookup(s) for s in FINAL_STATUSES]
        oldest: float | None = None
        cutoff = now - max_age
        for start, end, _slot in view.segments():
            codes = view.columns["status"][start:end]
            pending = np.ones(end - start, np.bool_)
            for code in final:
                pending &= codes != code
            found = np.flatnonzero(pending)
            if found.shape[0] == 0:
                continue
            times = view.times(found + start)
            times = times[times >= cutoff]
            if times.shape[0]:
                least = float(times.min())
                oldest = least if oldest is None else min(oldest, least)
        return oldest

    @_writer
    def trim(self) -> None:
        """Give back the side arenas' unused room and the C heap's freed pages
        (load_range calls it when done)."""
        for store in (self._other_requests, self._other_correlations, self._idempotency):
            store.trim()
        release_freed_heap()

    def nbytes(self) -> int:
        """Bytes held by the columns, the side arenas and the category values' lists
        (their string objects not counted: a few hundred distinct values)."""
        view = self._view
        columns = sum(a.nbytes for a in view.columns.values())
        arenas = sum(
            s.nbytes() for s in (self._other_requests, self._other_correlations, self._idempotency)
        )
        return int(columns + arenas)

    # -- export ----------------------------------------------------------------------

    def write_csv(
        self,
        sel: Selection,
        out: BinaryIO,
        *,
        chunk_rows: int = 5000,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> int:
        """Write the selected entries as CSV (UTF-8, a header row), in display order;
        returns the rows written (fewer than len(sel) when cancelled)."""
        from console.logbuffer._export import write_rows

        return write_rows(self, sel, out, "csv", chunk_rows, progress, cancelled)

    def write_ndjson(
        self,
        sel: Selection,
        out: BinaryIO,
        *,
        chunk_rows: int = 5000,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> int:
        """Write the selected entries as NDJSON (strict JSON, one object a line), in
        display order; returns the rows written (fewer than len(sel) when cancelled)."""
        from console.logbuffer._export import write_rows

        return write_rows(self, sel, out, "ndjson", chunk_rows, progress, cancelled)


def _id_rows_matching(rows: NDArray[np.uint8], prefix: str, needle: bytes) -> NDArray[np.bool_]:
    """Which packed id rows (after an implied `prefix`) show `needle` (folded)."""
    folded_prefix = fold(prefix)
    standard = held(rows)
    if needle in folded_prefix:
        return np.asarray(standard)
    # The rows hold alphanumerics only: a needle with anything else is in none of them
    # (no scan), except across the prefix's end.
    scan = needle.isalnum()
    mask = ids_containing(rows, needle) if scan else np.zeros(rows.shape[0], np.bool_)
    # A needle across the prefix's end: its head ends the prefix, its tail starts the id.
    for split in range(1, min(len(folded_prefix), len(needle) - 1) + 1):
        if folded_prefix.endswith(needle[:split]) and needle[split:].isalnum():
            mask |= ids_starting_with(rows, needle[split:])
    return np.asarray(mask & standard)


def _part(value: object, part: int | None) -> object:
    """A coded value, or one element of a coded tuple (None stays None)."""
    if part is None or value is None:
        return value
    return value[part]  # type: ignore[index]


def _count(value: int) -> int:
    """An item or error count as stored: 0..2**32-1."""
    return min(max(0, value), _UINT32_MAX)


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _int_or_none(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def _float_or_none(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def iso_time(timestamp: float) -> str:
    """An epoch timestamp as ISO 8601 UTC with milliseconds."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


__all__ = [
    "EXPORT_FIELDS",
    "FINAL_STATUSES",
    "MAX_ENTRIES",
    "STATUSES",
    "AddResult",
    "BufferFilter",
    "Column",
    "ErrorGroup",
    "Histogram",
    "LogBuffer",
    "Selection",
    "bound_heap",
    "error_label",
    "iso_time",
]
