"""The shared `limit` parser of the cursor-paged lists (logs, records, cursor pages)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from console.sandbox.http.errors import Problem
from console.sandbox.http.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_PAGE_NUMBER,
    bounded_int,
    parse_limit,
    query_of,
)


@pytest.mark.parametrize(
    ("query", "limit"),
    [
        ({}, DEFAULT_LIMIT),
        ({"limit": "7"}, 7),
        ({"limit": " 7 "}, 7),
        ({"limit": str(MAX_LIMIT)}, MAX_LIMIT),
        ({"limit": str(MAX_LIMIT + 1)}, MAX_LIMIT),
        ({"limit": str(MAX_PAGE_NUMBER)}, MAX_LIMIT),
    ],
)
def test_limit_is_read_and_capped_not_refused(query: dict[str, str], limit: int) -> None:
    problems: list[Problem] = []
    assert parse_limit(query, problems) == limit
    assert problems == []


@pytest.mark.parametrize(
    "text", ["", "0", "-1", "1.5", "x", "٣", str(MAX_PAGE_NUMBER + 1), "9" * 19]
)
def test_a_bad_limit_is_one_problem_naming_it(text: str) -> None:
    problems: list[Problem] = []
    assert parse_limit({"limit": text}, problems) == DEFAULT_LIMIT
    assert len(problems) == 1
    assert problems[0].field == "limit"


def test_bounded_int_keeps_to_its_bounds() -> None:
    assert bounded_int("0", 0, 5) == 0
    assert bounded_int("5", 0, 5) == 5
    assert bounded_int("6", 0, 5) is None
    assert bounded_int("+1", 0, 5) is None


@pytest.mark.parametrize(
    "query_string",
    [
        b"",
        b"limit=1",
        b"limit=1&cursor=djE6MTI",
        b"&&limit=5&",
        b"limit",
        b"limit=",
        b"=1",
        b"a==b&a=c",
        b"limit=1&limit=2",
        b"%6Cimit=3",
        b"name=a+b",
        b"x=%zz&y=\xe9",
    ],
)
def test_query_of_reads_what_starlette_reads(query_string: bytes) -> None:
    scope = {"type": "http", "query_string": query_string, "headers": []}
    ours = query_of(Request(scope))
    assert ours.multi_items() == Request(scope).query_params.multi_items()
    assert dict(ours) == dict(Request(scope).query_params)
