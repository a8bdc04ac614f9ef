"""`LogEntry.from_json`: a key's secret sent by a server never reaches the console's views."""

from __future__ import annotations

from console.api.logs import LogEntry

ADMIN_SECRET = "fdk_" + "a" * 36 + "WXYZ"
INGEST_SECRET = "ik_live_" + "b" * 28 + "KLMN"


def test_a_full_secret_in_key_or_path_is_masked_to_prefix_and_last4() -> None:
    entry = LogEntry.from_json(
        {
            "id": 1,
            "request_id": "req_1",
            "key": {"shown": ADMIN_SECRET, "id": "key_1"},
            "path": f"/api/ingest?stream=s&api_key={INGEST_SECRET}",
        }
    )
    assert entry.key == "fdk_…WXYZ"
    assert entry.path == "/api/ingest?stream=s&api_key=ik_live_…KLMN"
    assert ADMIN_SECRET not in repr(entry)
    assert INGEST_SECRET not in repr(entry)
    plain = LogEntry.from_json({"id": 2, "key": "fdk_…WXYZ", "path": "/api/ingest?stream=s"})
    assert (plain.key, plain.path) == ("fdk_…WXYZ", "/api/ingest?stream=s")


def test_a_timestamp_no_local_clock_can_show_is_read_as_unknown() -> None:
    import json
    from datetime import datetime

    from console.api.logs import LogDetail, Trace

    for bad in ("1e400", "1e12", "-5e15", "NaN"):
        entry = LogEntry.from_json(json.loads(f'{{"id": 1, "timestamp": {bad}}}'))
        datetime.fromtimestamp(entry.timestamp)  # what every view of an entry does
        assert entry.timestamp == 0.0
        detail = LogDetail.from_json(json.loads(f'{{"id": 1, "events": [{{"timestamp": {bad}}}]}}'))
        assert detail.events[0].timestamp is None
        change = f'{{"feed": "f", "guid": "g", "changes": [{{"timestamp": {bad}}}]}}'
        trace = Trace.from_json(json.loads(f'{{"records": [{change}]}}'))
        assert trace.records[0].changes[0].timestamp is None
    assert LogEntry.from_json({"id": 1, "timestamp": 1_700_000_000.5}).timestamp == 1_700_000_000.5
