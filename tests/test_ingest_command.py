"""`integration-console ingest`: summary, exit statuses 0/1/2/3/130 and resume, run as a
subprocess against the real sandbox."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from console.api.ingest import UploadProgress
from console.commands.ingest import PROG, ProgressLine
from console.sandbox.process import SandboxProcess
from console.sandbox.storage.sqlite import mint_key as store_mint_key

FEED = "shop"
SUMMARY = re.compile(
    r"^ingest: (\d+) items sent in (\d+) batches, (\d+) duplicates skipped \((\d+) items\), "
    r"(\d+) batches retried, (\d+) rejected, \d+\.\d s$"
)


def _ingest(
    args: list[str], key: str | None, state: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "INTEGRATION_CONSOLE_INGEST_KEY"}
    environ |= {"XDG_STATE_HOME": str(state), **env}
    if key is not None:
        environ["INTEGRATION_CONSOLE_INGEST_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "console", "ingest", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _ndjson(path: Path, count: int) -> Path:
    path.write_text("".join(json.dumps({"id": f"i{i}", "n": i}) + "\n" for i in range(count)))
    return path


def _manifests(state: Path) -> list[Path]:
    return sorted((state / "integration-console" / "uploads").glob("*.json"))


def _record_count(url: str, admin: str, expected: int, within: float = 30) -> int:
    deadline = time.monotonic() + within
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}) as http:
        while True:
            feed = http.get(f"/api/public/v1/feeds/{FEED}").json()
            count = int(feed.get("record_count", feed.get("data", {}).get("record_count", 0)))
            if count >= expected or time.monotonic() > deadline:
                return count
            time.sleep(0.1)


@pytest.fixture
def keys(mint_key: Callable[..., str], account: str) -> tuple[str, str]:
    return mint_key(account, "admin"), mint_key(account, "ingest", FEED)


def test_upload_prints_one_summary_line_and_exits_0(
    sandbox_url: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    admin, ingest = keys
    source = _ndjson(tmp_path / "items.jsonl", 25_000)
    result = _ingest(["--url", sandbox_url, "--feed", FEED, str(source)], ingest, tmp_path)
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    match = SUMMARY.match(line)
    assert match, line
    assert match.groups()[:6] == ("25000", "3", "0", "0", "0", "0")
    assert result.stderr == ""  # not a terminal: no progress
    assert _manifests(tmp_path) == []
    assert _record_count(sandbox_url, admin, 25_000) == 25_000
    assert ingest not in result.stdout + result.stderr


def test_rejected_items_are_listed_with_index_and_reason_and_exit_1(
    sandbox_url: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    admin, ingest = keys
    source = tmp_path / "rows.csv"
    source.write_text('id,name\na,"one\ntwo"\n,missing\nc,three\nd\n')
    result = _ingest(["--url", sandbox_url, "--feed", FEED, str(source)], ingest, tmp_path)
    assert result.returncode == 1, result.stderr
    match = SUMMARY.match(result.stdout.strip())
    assert match, result.stdout
    assert (match.group(1), match.group(6)) == ("2", "2")
    first, second = result.stderr.splitlines()
    assert first.startswith("item 1: [1].id must be a non-empty string"), first  # the server's
    assert second == "item 3: the row has 1 fields; the header has 2"  # found locally
    assert _record_count(sandbox_url, admin, 2) == 2


def test_items_the_server_refuses_are_listed_too(
    sandbox_url: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    _, ingest = keys
    source = tmp_path / "rows.ndjson"
    source.write_text('{"id": 1}\n{"nope": 2}\n{"id": 3}\n')
    # No --item-key: the local check cannot know the feed's id field; the server's 400 does.
    result = _ingest(["--url", sandbox_url, "--feed", FEED, str(source)], ingest, tmp_path)
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("item 1: [1].id"), line


@pytest.mark.parametrize(
    ("args", "key", "message"),
    [
        (["--feed", FEED, "{file}"], "ik_live_x", "--url"),
        (["--url", "{url}", "--feed", FEED, "{file}"], None, "INTEGRATION_CONSOLE_INGEST_KEY"),
        (["--url", "{url}", "--feed", FEED, "--concurrency", "17", "{file}"], "k", "1 and 16"),
        (["--url", "{url}", "--feed", FEED, "{dir}/none.ndjson"], "k", "no such file"),
        (["--url", "{url}", "--feed", FEED, "{dir}/items.txt"], "k", "--format"),
        (["--url", "ftp://x", "--feed", FEED, "{file}"], "k", "http://"),
    ],
)
def test_usage_errors_exit_2(
    sandbox_url: str, tmp_path: Path, args: list[str], key: str | None, message: str
) -> None:
    source = _ndjson(tmp_path / "items.ndjson", 3)
    (tmp_path / "items.txt").write_text("{}\n")
    filled = [a.format(file=source, url=sandbox_url, dir=tmp_path) for a in args]
    result = _ingest(filled, key, tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert result.stdout == ""


def test_a_key_the_server_refuses_exits_2_without_showing_it(
    sandbox_url: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    source = _ndjson(tmp_path / "items.ndjson", 3)
    wrong = "ik_live_" + "Q" * 28 + "zz99"
    result = _ingest(["--url", sandbox_url, "--feed", FEED, str(source)], wrong, tmp_path)
    assert result.returncode == 2, result.stderr
    assert wrong not in result.stderr
    assert "ik_live_…zz99" in result.stderr
    _, ingest = keys
    other = _ingest(["--url", sandbox_url, "--feed", "other", str(source)], ingest, tmp_path)
    assert other.returncode == 2, other.stderr
    assert "STREAM_NOT_FOUND" in other.stderr or "stream" in other.stderr.lower()
    bad_item_key = _ingest(
        ["--url", sandbox_url, "--feed", FEED, "--item-key", "x" * 101, str(source)],
        ingest,
        tmp_path,
    )
    assert bad_item_key.returncode == 2, bad_item_key.stderr
    assert "--item-key: the item key must be 1 to 100 characters" in bad_item_key.stderr


def test_malformed_json_array_exits_2(sandbox_url: str, tmp_path: Path) -> None:
    source = tmp_path / "items.json"
    source.write_text('[{"id": 1}, {"id": 2]')
    result = _ingest(["--url", sandbox_url, "--feed", FEED, str(source)], "ik_live_k", tmp_path)
    assert result.returncode == 2
    assert "not valid JSON at byte" in result.stderr


def test_unreachable_server_exits_3_and_keeps_the_manifest(tmp_path: Path) -> None:
    source = _ndjson(tmp_path / "items.ndjson", 3)
    result = _ingest(
        ["--url", "http://127.0.0.1:9", "--feed", FEED, str(source)],
        "ik_live_" + "a" * 32,
        tmp_path,
        INTEGRATION_CONSOLE_INGEST_TRIES="2",
    )
    assert result.returncode == 3, result.stderr
    # Walking the build, stderr (not a terminal) stayed empty through the retries.
    first, *_ = result.stderr.splitlines()
    assert first.startswith(f"{PROG}: cannot reach http://127.0.0.1:9"), result.stderr
    assert "retrying" in first
    assert result.stderr.count("cannot reach") == 1  # once, not at each try
    assert "run the same command again to resume" in result.stderr
    assert len(_manifests(tmp_path)) == 1
    assert oct(_manifests(tmp_path)[0].stat().st_mode & 0o777) == "0o600"


def test_ctrl_c_exits_130_and_a_rerun_resumes_without_duplicates(
    make_sandbox: Callable[..., SandboxProcess], tmp_path: Path
) -> None:
    # One request a second: the upload lasts long enough to be interrupted part-way.
    server = make_sandbox(demo=False, extra_args=["--ingest-burst", "1/1"])
    url = server.base_url or ""
    ingest = store_mint_key(server.data_dir, account="cli", kind="ingest", feed=FEED)
    admin = store_mint_key(server.data_dir, account="cli", kind="admin")
    environ = {k: v for k, v in os.environ.items() if k != "INTEGRATION_CONSOLE_INGEST_KEY"}
    environ["XDG_STATE_HOME"] = str(tmp_path)
    said = interrupt_and_resume(
        [sys.executable, "-m", "console"], environ, url, ingest, admin, tmp_path
    )
    # Walking the build, the rerun said nothing of going on from the first run's progress.
    assert re.search(
        r"resuming the interrupted upload of items\.ndjson from \d+\.\d% \([\d,]+ items sent", said
    ), said


def interrupt_and_resume(
    command: list[str], environ: dict[str, str], url: str, ingest: str, admin: str, tmp: Path
) -> str:
    """Ctrl-C an upload of 60,000 items part-way (exit 130, manifest kept), run the same
    command again: it finishes, sends at most the batch in flight twice, and every item
    lands once; returns what the rerun wrote on stderr. `command` runs the console (the
    source install or a frozen build); the server must allow one ingest request a second;
    `environ` names XDG_STATE_HOME."""
    source = tmp / "items.ndjson"
    source.write_text("".join(json.dumps({"id": i}) + "\n" for i in range(60_000)))
    state = Path(environ["XDG_STATE_HOME"])
    environ = environ | {
        "INTEGRATION_CONSOLE_INGEST_KEY": ingest,
        "INTEGRATION_CONSOLE_MANIFEST_EVERY": "1",
    }
    argv = [*command, "ingest", "--url", url, "--feed", FEED]
    child = subprocess.Popen(
        [*argv, "--concurrency", "1", str(source)],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not _manifests(state) and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    assert _manifests(state), "no manifest written"
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "run the same command again to resume" in err
    assert out == ""
    [kept] = _manifests(state)
    done_before = json.loads(kept.read_text())["counters"]["batches_done"]
    assert 1 <= done_before < 6
    again = subprocess.run([*argv, str(source)], env=environ, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    match = SUMMARY.match(again.stdout.strip())
    assert match, again.stdout
    assert (match.group(1), match.group(2)) == ("60000", "6")
    assert int(match.group(3)) <= 1  # at most the batch in flight when interrupted
    assert _manifests(state) == []
    assert _record_count(url, admin, 60_000) == 60_000
    return again.stderr


def test_progress_line_is_throttled_and_shows_eta() -> None:
    stream = io.StringIO()
    line = ProgressLine(stream)

    def progress(done: int) -> UploadProgress:
        return UploadProgress(
            bytes_done=done,
            bytes_total=1000,
            items_sent=done * 10,
            duplicates=1,
            duplicate_items=10,
            retries=2,
            batches_retried=1,
            batches_done=done // 100,
            batches_total=None,
            rejected_count=0,
            elapsed=1.0,
            rate=1234.0,
        )

    line.update(progress(0))
    line.update(progress(100))  # within 0.25 s: not shown
    assert stream.getvalue().count("\r") == 1
    text = line.text(progress(500), time.monotonic() + 1)
    assert text.startswith(" 50.0%  5,000 items  5 batches  1 dup  2 retries  1,234 items/s")
    assert "ETA" in text
    line.close()
    assert stream.getvalue().endswith("\n")


def _ingest_requests(url: str, admin: str, ingest: str) -> int:
    """How many POST /api/ingest requests of this ingest key the connector log has."""
    shown = ingest[-4:]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"}) as http:
        page = http.get("/api/public/v1/logs", params={"intent": "ingest", "limit": 1000})
        entries = page.json()["data"]
    return sum(1 for entry in entries if (entry["key"] or {}).get("shown", "").endswith(shown))


def test_a_file_keyed_by_another_field_stops_at_once_naming_the_field(
    sandbox_url: str, mint_key: Callable[..., str], account: str, tmp_path: Path
) -> None:
    """Not one item has the feed's id field: the first 400 names it, and the command stops
    with exit 2 and a hint, instead of 100 refused items per round trip for every batch."""
    admin, ingest = mint_key(account, "admin"), mint_key(account, "ingest", FEED)
    source = tmp_path / "items.ndjson"
    source.write_text("".join(json.dumps({"sku": f"s{i}"}) + "\n" for i in range(25_000)))
    result = _ingest(["--url", sandbox_url, "--feed", FEED, str(source)], ingest, tmp_path)
    assert result.returncode == 2, result.stderr
    assert "'id'" in result.stderr
    assert "--item-key" in result.stderr
    # At most one request per batch that was in flight (concurrency 4), not ~250.
    assert _ingest_requests(sandbox_url, admin, ingest) <= 4


def test_many_rejected_items_take_two_requests_a_batch_and_list_the_first_20(
    sandbox_url: str, mint_key: Callable[..., str], account: str, tmp_path: Path
) -> None:
    admin, ingest = mint_key(account, "admin"), mint_key(account, "ingest", FEED)
    source = tmp_path / "items.ndjson"
    lines = [{"id": f"r{i}"} if i % 3 else {"sku": i} for i in range(3_000)]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    rejects = tmp_path / "rejects.ndjson"
    args = ["--url", sandbox_url, "--feed", FEED, "--rejects", str(rejects), str(source)]
    result = _ingest(args, ingest, tmp_path)
    assert result.returncode == 1, result.stderr
    match = SUMMARY.match(result.stdout.strip())
    assert match, result.stdout
    assert (match.group(1), match.group(6)) == ("2000", "1000")
    listed = [line for line in result.stderr.splitlines() if line.startswith("item ")]
    assert len(listed) == 20
    assert listed[0].startswith("item 0: [0].id")
    reasons = rejects.with_name("rejects.reasons.ndjson")
    written = [json.loads(line) for line in reasons.read_text().splitlines()]
    assert sorted(entry["item"] for entry in written) == list(range(0, 3_000, 3))
    # The items themselves, as the file holds them: fixed, they can be uploaded again.
    items = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert items == [{"sku": i} for i in range(0, 3_000, 3)]
    # One refused request (its 400 lists 100 problems), then the rest found locally. A
    # refusal's entry is written by the log sink within ~100 ms of the answer, so it may
    # still be on its way when the command exits (it failed once on a busy machine).
    deadline = time.monotonic() + 10
    while _ingest_requests(sandbox_url, admin, ingest) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _ingest_requests(sandbox_url, admin, ingest) == 2
    assert _record_count(sandbox_url, admin, 2_000) >= 2_000


def test_rejects_go_to_the_file_and_the_uploads_directory_is_left_empty(
    sandbox_url: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    _, ingest = keys
    source = tmp_path / "rows.ndjson"
    source.write_text(
        "".join(json.dumps({"id": i} if i % 5 else {"sku": i}) + "\n" for i in range(500))
    )
    missing = tmp_path / "no-such-dir" / "rejects.ndjson"
    early = _ingest(
        ["--url", sandbox_url, "--feed", FEED, "--rejects", str(missing), str(source)],
        ingest,
        tmp_path,
    )
    assert early.returncode == 2, early.stderr  # said before anything is sent
    assert "--rejects" in early.stderr
    assert early.stdout == ""

    rejects = tmp_path / "rejects.ndjson"
    args = ["--url", sandbox_url, "--feed", FEED, "--item-key", "id", "--rejects", str(rejects)]
    result = _ingest([*args, str(source)], ingest, tmp_path)
    assert result.returncode == 1, result.stderr
    reasons = rejects.with_name("rejects.reasons.ndjson")
    written = [json.loads(line)["item"] for line in reasons.read_text().splitlines()]
    assert written == list(range(0, 500, 5))
    assert rejects.read_text() == "".join(json.dumps({"sku": i}) + "\n" for i in range(0, 500, 5))
    for saved in (rejects, reasons):
        assert oct(saved.stat().st_mode & 0o777) == "0o600"  # they hold the data
    uploads = tmp_path / "integration-console" / "uploads"
    assert list(uploads.iterdir()) == []  # neither manifest nor rejected items left behind


def test_rejects_that_cannot_be_written_are_kept_and_named(
    sandbox_url: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    _, ingest = keys
    source = tmp_path / "rows.ndjson"
    source.write_text(
        "".join(json.dumps({"id": i} if i % 5 else {"sku": i}) + "\n" for i in range(50))
    )
    taken = tmp_path / "a-directory"
    taken.mkdir()
    args = ["--url", sandbox_url, "--feed", FEED, "--item-key", "id", "--rejects", str(taken)]
    result = _ingest([*args, str(source)], ingest, tmp_path)
    assert result.returncode == 1, result.stderr
    assert f"cannot write {taken}" in result.stderr
    kept = re.search(r"rejected items are kept in (\S+)$", result.stderr.strip())
    assert kept, result.stderr
    lines = Path(kept.group(1)).read_text().splitlines()
    assert [json.loads(line)["item"] for line in lines] == list(range(0, 50, 5))
    assert Path(kept.group(1)).parent == tmp_path / "integration-console" / "uploads"


def test_a_refused_run_that_exits_2_leaves_no_progress_file(
    sandbox_url: str, keys: tuple[str, str], tmp_path: Path
) -> None:
    # Walking the build, a wrong feed (404, exit 2) left its progress file in the uploads
    # directory, though only exits 3 and 130 keep one.
    _, ingest = keys
    source = tmp_path / "items.ndjson"
    source.write_text("".join(json.dumps({"id": i}) + "\n" for i in range(50)))
    result = _ingest(["--url", sandbox_url, "--feed", "nosuchfeed", str(source)], ingest, tmp_path)
    assert result.returncode == 2, result.stderr
    uploads = tmp_path / "integration-console" / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []
