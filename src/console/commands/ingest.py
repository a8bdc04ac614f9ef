"""`integration-console ingest --url URL --feed FEED FILE`: a resumable bulk upload to
`POST /api/ingest`, for scripts and CI.

The ingest key comes from `$INTEGRATION_CONSOLE_INGEST_KEY` (never an argument, so it stays
out of shell history and process lists). Progress goes to stderr when it is a terminal; one
summary line goes to stdout at the end, then the first 20 rejected items on stderr (all of
them in the `--rejects` file: the items themselves, cut from FILE, with their reasons in
`<stem>.reasons.ndjson` next to it, copied from the upload's sidecar file, which then goes). Exit 0
done, 1 some items rejected, 2 usage error (arguments, no key, unreadable or malformed file, a key
or feed the server refuses), 3 could not finish (server unreachable or failing: run again
to resume), 130 interrupted (run again to resume). Only exits 3 and 130 keep the progress
file; an exit 2 removes it. A connection failure is said on stderr once, when the retries
start; a run that goes on from an earlier one's progress says so (and from what share).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from console.api.ingest import UploadProgress, UploadSummary
    from console.api.upload_rejects import RejectedItems

KEY_ENV = "INTEGRATION_CONSOLE_INGEST_KEY"
TRIES_ENV = "INTEGRATION_CONSOLE_INGEST_TRIES"  # tests: fewer tries before exit 3
EXIT_DONE, EXIT_REJECTED, EXIT_USAGE, EXIT_INCOMPLETE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
PROGRESS_INTERVAL = 0.25  # at most 4 updates a second
PROG = "integration-console ingest"
LISTED_REJECTS = 20  # rejected items listed on stderr; --rejects writes them all


class UsageError(Exception):
    """Something the user must fix before the upload can run; the message says what."""


def _concurrency(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 16:
        raise argparse.ArgumentTypeError("must be between 1 and 16")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Upload an NDJSON, JSON-array or CSV file to a feed's stream "
        f"(POST /api/ingest) with the ingest key in ${KEY_ENV}. Interrupted, run it again: "
        "it resumes and never sends an item twice. Exit status: 0 done, 1 items rejected, "
        "2 usage error, 3 could not finish (run again to resume), 130 interrupted.",
    )
    parser.add_argument("file", metavar="FILE", help="the file to upload")
    parser.add_argument("--url", required=True, help="the platform's base URL")
    parser.add_argument("--feed", required=True, help="the feed (stream) the key belongs to")
    parser.add_argument(
        "--format",
        choices=("ndjson", "json", "csv"),
        help="the file's format (default: by extension: .ndjson/.jsonl, .json, .csv)",
    )
    parser.add_argument(
        "--item-key",
        metavar="FIELD",
        help="the field identifying each item (default: the feed's id field)",
    )
    parser.add_argument(
        "--rejects",
        metavar="PATH",
        type=Path,
        help="write every rejected item to PATH as FILE holds it (fix them and upload PATH "
        "again), and each one's index and reason to PATH's <stem>.reasons.ndjson (stderr "
        f"lists the first {LISTED_REJECTS})",
    )
    parser.add_argument(
        "--concurrency",
        type=_concurrency,
        default=4,
        metavar="N",
        help="batches in flight at once, 1-16 (default 4)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the upload `argv` describes; return the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage message
        return EXIT_DONE if exc.code == 0 else EXIT_USAGE
    try:
        key, path, fmt = _check(args)
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from console.api.ingest import UploadIncomplete
    from console.api.ingest_sources import SourceError
    from console.common.redaction import mask_secret

    shown_key = mask_secret(key)
    progress = ProgressLine(sys.stderr) if sys.stderr.isatty() else None
    manifest: list[Path | None] = [None]
    try:
        summary = asyncio.run(_upload(args, key, path, fmt, progress, manifest))
    except KeyboardInterrupt:
        _end(progress)
        print(f"{PROG}: interrupted; {_resume_hint(manifest[0])}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SourceError as exc:
        _end(progress)
        print(f"{PROG}: {path}: {exc}", file=sys.stderr)
        return _usage_exit(manifest[0])
    except OSError as exc:
        _end(progress)
        print(f"{PROG}: {path}: cannot read it ({exc.strerror or exc})", file=sys.stderr)
        return _usage_exit(manifest[0])
    except UploadIncomplete as exc:
        _end(progress)
        if exc.refused:
            print(f"{PROG}: {exc} (key {shown_key}, feed {args.feed})", file=sys.stderr)
            return _usage_exit(exc.manifest_path or manifest[0])
        print(
            f"{PROG}: could not finish: {exc}; {_resume_hint(exc.manifest_path)}", file=sys.stderr
        )
        return EXIT_INCOMPLETE
    _end(progress)
    print(summary_line(summary), flush=True)
    rejects = summary.rejects
    if _list_rejects(rejects, args.rejects, path, fmt):
        rejects.discard()
    else:
        rejects.keep()
    return EXIT_REJECTED if rejects else EXIT_DONE


def _usage_exit(manifest: Path | None) -> int:
    """Exit 2: the run cannot go on as it is (a key, feed or file to fix), so its progress
    file and rejected items go; only exits 3 and 130 keep them for a rerun."""
    if manifest is not None:
        from console.api.upload_rejects import sidecar_for

        for leftover in (manifest, sidecar_for(manifest)):
            try:
                leftover.unlink(missing_ok=True)
            except OSError as exc:
                print(f"{PROG}: cannot remove {leftover} ({exc.strerror or exc})", file=sys.stderr)
    return EXIT_USAGE


def _list_rejects(rejects: RejectedItems, path: Path | None, source: Path, fmt: str) -> bool:
    """The first LISTED_REJECTS rejected items (lowest indexes) on stderr; all of them in
    `path` if given (the items cut from `source`, their reasons next to it), streamed from
    the upload's file. False when `path` could not be written: the upload's file is then
    kept, and named."""
    from console.api.ingest_sources import SourceError
    from console.api.rejected_items import save_rejected

    for index, reason in rejects.first[:LISTED_REJECTS]:
        print(f"item {index}: {reason}", file=sys.stderr)
    more = rejects.count - LISTED_REJECTS
    if path is not None and rejects:
        try:
            saved = save_rejected(rejects, source, fmt, path)  # type: ignore[arg-type]
        except (OSError, SourceError) as exc:
            detail = exc.strerror or exc if isinstance(exc, OSError) else exc
            print(
                f"{PROG}: cannot write {path} ({detail}); all {rejects.count:,} "
                f"rejected items are kept in {rejects.path}",
                file=sys.stderr,
            )
            return False
        print(
            f"all {rejects.count:,} rejected items are in {saved.items} (their reasons in "
            f"{saved.reasons})",
            file=sys.stderr,
        )
    elif more > 0:
        print(
            f"… and {more:,} more rejected items (--rejects PATH lists them all)", file=sys.stderr
        )
    return True


def _check(args: argparse.Namespace) -> tuple[str, Path, str]:
    key = os.environ.get(KEY_ENV, "").strip()
    if not key:
        raise UsageError(f"no ingest key: set {KEY_ENV} to the feed's ingest key (ik_live_…)")
    if not args.url.lower().startswith(("http://", "https://")):
        raise UsageError(f"--url must start with http:// or https://, not {args.url!r}")
    path = Path(args.file)
    try:
        with path.open("rb") as file:
            file.read(1)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    from console.api.ingest import item_key_problem
    from console.api.ingest_sources import format_for

    if args.item_key is not None and (problem := item_key_problem(args.item_key)):
        raise UsageError(f"--item-key: {problem}")
    if args.rejects is not None and not args.rejects.parent.is_dir():
        # Found before the upload, not after it when the rejected items are to be written.
        raise UsageError(f"--rejects: {args.rejects.parent} is not a directory")

    fmt = args.format or format_for(path)
    if fmt is None:
        raise UsageError(
            f"{path}: cannot tell the format from the name; give --format ndjson, json or csv"
        )
    return key, path, fmt


async def _upload(
    args: argparse.Namespace,
    key: str,
    path: Path,
    fmt: str,
    progress: ProgressLine | None,
    manifest: list[Path | None],
) -> UploadSummary:
    from console.api.ingest import MAX_TRIES, BulkUploader
    from console.api.transport import ApiClient
    from console.api.upload_manifest import default_manifest_dir

    tries = os.environ.get(TRIES_ENV, "")
    client = ApiClient(args.url, key, max_retries=0, timeout=60.0)
    client.add_observer(ConnectionNotice(args.url, progress))
    try:
        uploader = BulkUploader(
            client,
            args.feed,
            path,
            format=fmt,  # type: ignore[arg-type]
            item_key=args.item_key,
            concurrency=args.concurrency,
            manifest_dir=default_manifest_dir(),
            on_progress=progress.update if progress is not None else None,
            max_tries=int(tries) if tries.isdigit() and int(tries) > 0 else MAX_TRIES,
            on_resume=lambda done: _say_resuming(path, done, progress),
        )
        try:
            return await uploader.run()
        finally:
            manifest[0] = uploader.manifest_path
    finally:
        await client.aclose()


def _say_resuming(path: Path, done: UploadProgress, progress: ProgressLine | None) -> None:
    """One line on stderr: this run goes on from an earlier one's progress."""
    share = f" from {done.fraction * 100:.1f}%" if done.fraction is not None else ""
    _end(progress)
    print(
        f"{PROG}: resuming the interrupted upload of {path.name}{share} "
        f"({done.items_sent:,} items sent before; nothing is applied twice)",
        file=sys.stderr,
        flush=True,
    )


class ConnectionNotice:
    """Says once, on stderr, that the server cannot be reached and the upload is retrying
    (without it a script saw nothing for the ~50 s of retries before exit 3)."""

    def __init__(self, url: str, progress: ProgressLine | None) -> None:
        self._url = url
        self._progress = progress
        self._said = False

    def __call__(self, event: object) -> None:
        """An exchange: a connection failure (status 0) is said the first time."""
        from console.api.transport import RequestOutcome

        if self._said or not isinstance(event, RequestOutcome) or event.status != 0:
            return
        self._said = True
        reason = f": {event.error.message}" if event.error is not None else ""
        _end(self._progress)
        print(
            f"{PROG}: cannot reach {self._url}{reason}; retrying (run again later to resume "
            "if it gives up)",
            file=sys.stderr,
            flush=True,
        )


def _resume_hint(manifest: Path | None) -> str:
    where = f" (progress kept in {manifest})" if manifest is not None else ""
    return f"run the same command again to resume{where}"


def _end(progress: ProgressLine | None) -> None:
    if progress is not None:
        progress.close()


def summary_line(summary: UploadSummary) -> str:
    """`ingest: 200000 items sent in 20 batches, 3 duplicates skipped (30000 items), 2 batches
    retried, 0 rejected, 14.2 s`."""
    return (
        f"ingest: {summary.items_sent} items sent in {summary.batches_done} batches, "
        f"{summary.duplicates} duplicates skipped ({summary.duplicate_items} items), "
        f"{summary.batches_retried} batches retried, {summary.rejected_count} rejected, "
        f"{summary.elapsed:.1f} s"
    )


class ProgressLine:
    """One `\\r`-rewritten line on a terminal, at most 4 times a second."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last = 0.0
        self._baseline: tuple[float, int] | None = None  # (when, bytes done) at the start
        self._width = 0

    def update(self, progress: UploadProgress) -> None:
        """Show `progress` unless the last update was under 0.25 s ago."""
        now = time.monotonic()
        if self._baseline is None:
            self._baseline = (now, progress.bytes_done)
        if now - self._last < PROGRESS_INTERVAL:
            return
        self._last = now
        self._write(self.text(progress, now))

    def text(self, progress: UploadProgress, now: float) -> str:
        """The line for `progress`: %, items, batches, duplicates, retries, items/s, ETA."""
        parts = []
        fraction = progress.fraction
        if fraction is not None:
            parts.append(f"{fraction * 100:5.1f}%")
        parts += [
            f"{progress.items_sent:,} items",
            f"{progress.batches_done} batches",
            f"{progress.duplicates} dup",
            f"{progress.retries} retries",
            f"{progress.rate:,.0f} items/s",
        ]
        eta = self._eta(progress, now)
        if eta is not None:
            parts.append(f"ETA {eta}")
        return "  ".join(parts)

    def _eta(self, progress: UploadProgress, now: float) -> str | None:
        if self._baseline is None or not progress.bytes_total:
            return None
        started, bytes_then = self._baseline
        done = progress.bytes_done - bytes_then
        if done <= 0 or now <= started:
            return None
        seconds = (progress.bytes_total - progress.bytes_done) / (done / (now - started))
        minutes, secs = divmod(int(seconds + 0.5), 60)
        return f"{minutes}:{secs:02d}" if minutes else f"{secs} s"

    def _write(self, text: str) -> None:
        pad = max(0, self._width - len(text))
        self._width = len(text)
        self._stream.write("\r" + text + " " * pad)
        self._stream.flush()

    def close(self) -> None:
        """End the line (the summary goes on the next)."""
        if self._width:
            self._stream.write("\n")
            self._stream.flush()
            self._width = 0
