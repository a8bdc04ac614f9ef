"""`console sandbox serve` and `console sandbox mint-key`."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from pathlib import Path

from console.sandbox.settings import (
    PARTS,
    ImportSettings,
    IntentTiming,
    LogSettings,
    PipelineTiming,
    RateLimit,
)

LOOPBACK_NAMES = {"localhost"}


def _rate_limit(text: str) -> RateLimit:
    try:
        return RateLimit.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


MAX_DEMO_RECORDS = 10_000_000


def _record_count(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 9) or int(text) > MAX_DEMO_RECORDS:
        raise argparse.ArgumentTypeError(
            f"expected a record count from 0 to {MAX_DEMO_RECORDS:,}, got {text!r}"
        )
    return int(text)


MAX_DEMO_LOGS = 10_000_000
MAX_RETENTION_DAYS = 3650


def _log_count(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 9) or int(text) > MAX_DEMO_LOGS:
        raise argparse.ArgumentTypeError(
            f"expected an entry count from 0 to {MAX_DEMO_LOGS:,}, got {text!r}"
        )
    return int(text)


def _retention_days(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 5) or not (
        1 <= int(text) <= MAX_RETENTION_DAYS
    ):
        raise argparse.ArgumentTypeError(
            f"expected a number of days from 1 to {MAX_RETENTION_DAYS}, got {text!r}"
        )
    return int(text)


def _positive_int(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 18) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def _parts(text: str) -> frozenset[str]:
    names = [name.strip().lower() for name in text.split(",")]
    unknown = [name for name in names if name not in PARTS]
    if unknown or not any(names):
        raise argparse.ArgumentTypeError(
            f"unknown part {', '.join(repr(n) for n in unknown) or repr(text)}: "
            f"expected a comma-separated list of {', '.join(PARTS)}"
        )
    return frozenset(names)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return int(text)


def is_loopback(host: str) -> bool:
    """Whether `host` names only this machine (127.0.0.0/8, ::1 or localhost)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_parser() -> argparse.ArgumentParser:
    """The `sandbox` command line."""
    parser = argparse.ArgumentParser(
        prog="integration-console sandbox",
        description="The embedded sandbox of the integration platform.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the sandbox server in the foreground")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=0, help="port, 0 for a free one (default)")
    serve.add_argument("--data", type=Path, required=True, help="data directory")
    serve.add_argument("--demo", action="store_true", help="seed the demo account")
    serve.add_argument(
        "--demo-records",
        type=_record_count,
        default=0,
        metavar="N",
        help="seed N records in bulk into the demo account's demo-records feed "
        "(for benchmarks and screenshots; tops the feed up to N)",
    )
    serve.add_argument(
        "--rate-limit",
        type=_rate_limit,
        default=RateLimit(1000, 300),
        metavar="N/SECONDS",
        help="per-IP limit (default 1000/300)",
    )
    serve.add_argument(
        "--ingest-burst",
        type=_rate_limit,
        default=RateLimit(20, 1),
        metavar="N/SECONDS",
        help="per-key limit on ingest routes (default 20/1)",
    )
    timing = PipelineTiming()
    serve.add_argument(
        "--pipeline-minute-seconds",
        type=_positive_seconds,
        default=timing.minute_seconds,
        metavar="SECONDS",
        help="real seconds one minute of a pipeline's sync schedule lasts "
        f"(default {timing.minute_seconds:g}: time runs 60x faster)",
    )
    serve.add_argument(
        "--sync-seconds",
        type=_seconds,
        default=timing.sync_seconds,
        metavar="SECONDS",
        help=f"how long one simulated sync runs (default {timing.sync_seconds:g})",
    )
    serve.add_argument(
        "--deploy-seconds",
        type=_seconds,
        default=timing.deploy_seconds,
        metavar="SECONDS",
        help="how long a simulated deploy, and a graceful teardown, take "
        f"(default {timing.deploy_seconds:g})",
    )
    serve.add_argument(
        "--poll-seconds",
        type=_positive_seconds,
        default=IntentTiming().poll_seconds,
        metavar="SECONDS",
        help="real seconds between two polls of a polling feed by the simulated connector "
        f"(default {IntentTiming().poll_seconds:g})",
    )
    serve.add_argument(
        "--import-max-bytes",
        type=_positive_int,
        default=ImportSettings().max_upload_bytes,
        metavar="BYTES",
        help="the most bytes one file import's multipart body may have "
        f"(default {ImportSettings().max_upload_bytes:,}: 1 GiB)",
    )
    logs = LogSettings()
    serve.add_argument(
        "--log-retention-days",
        type=_retention_days,
        default=logs.retention_days,
        metavar="DAYS",
        help="keep connector log entries this many days, 1 to 3650 "
        f"(default {logs.retention_days}); older ones are pruned in small batches",
    )
    serve.add_argument(
        "--log-prune-seconds",
        type=_positive_seconds,
        default=logs.prune_seconds,
        metavar="SECONDS",
        help=f"real seconds between two pruning rounds (default {logs.prune_seconds:g})",
    )
    serve.add_argument(
        "--demo-logs",
        type=_log_count,
        default=0,
        metavar="N",
        help="seed N connector log entries in bulk into the demo account before serving "
        "(for benchmarks; spread over the last 7 days; adds N on every start)",
    )
    serve.add_argument(
        "--only",
        type=_parts,
        default=frozenset(PARTS),
        metavar="PARTS",
        help="offer only these parts of the contract, comma-separated, of: "
        f"{', '.join(PARTS)} (default: all). E.g. keys,pipelines as an Integrate.io "
        "account, intents as a Frontic ingest host, ingest as an Inspire connector; the "
        "other parts' routes answer 404 and /openapi.json lists only the parts offered",
    )
    serve.add_argument(
        "--stop-on-stdin-eof",
        action="store_true",
        help="stop cleanly when standard input closes (a parent that dies, even by "
        "SIGKILL, never leaves its server behind; also the shutdown path on Windows)",
    )
    serve.add_argument(
        "--wait-for-data",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="if another sandbox server uses --data, wait this long for it to stop "
        "before giving up (default 10)",
    )
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (the sandbox holds demo data and test keys)",
    )

    mint = commands.add_parser("mint-key", help="create an API key and print its secret")
    mint.add_argument("--data", type=Path, required=True, help="data directory")
    mint.add_argument("--account", required=True, help="account name (created if new)")
    mint.add_argument("--kind", choices=("admin", "ingest"), default="admin")
    mint.add_argument("--feed", help="the ingest key's feed (created if new)")
    mint.add_argument("--name", help="the key's display name")
    return parser


def main(argv: list[str]) -> int:
    """Run a sandbox sub-command; return the process exit code (2 for bad arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 with a usage message on bad arguments
    if args.command == "serve":
        if not is_loopback(args.host) and not args.allow_remote:
            parser.error(
                f"--host {args.host} is not a loopback address; the sandbox holds demo data "
                "and test keys, so pass --allow-remote to expose it deliberately"
            )
        # Imported here so that mint-key never pays for (or needs) the web stack.
        from console.sandbox.server import serve
        from console.sandbox.settings import SandboxSettings

        logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
        settings = SandboxSettings(
            rate_limit=args.rate_limit,
            ingest_burst=args.ingest_burst,
            demo=args.demo,
            demo_records=args.demo_records,
            pipelines=PipelineTiming(
                minute_seconds=args.pipeline_minute_seconds,
                sync_seconds=args.sync_seconds,
                deploy_seconds=args.deploy_seconds,
            ),
            intents=IntentTiming(poll_seconds=args.poll_seconds),
            imports=ImportSettings(max_upload_bytes=args.import_max_bytes),
            logs=LogSettings(
                retention_days=args.log_retention_days,
                prune_seconds=args.log_prune_seconds,
                demo_logs=args.demo_logs,
            ),
            parts=args.only,
        )
        if args.demo_logs and args.log_retention_days < 7:
            print(
                f"sandbox: warning: --demo-logs spreads entries over 7 days; with "
                f"--log-retention-days {args.log_retention_days} the older ones are pruned",
                file=sys.stderr,
            )
        return serve(
            args.host,
            args.port,
            args.data,
            settings,
            stop_on_stdin_eof=args.stop_on_stdin_eof,
            lock_wait=args.wait_for_data,
        )

    if args.kind == "ingest" and not args.feed:
        parser.error("--kind ingest needs --feed FEED (the feed the key may write to)")
    if args.kind == "admin" and args.feed:
        parser.error("--feed only applies to --kind ingest")
    from console.sandbox.storage.sqlite import mint_key

    try:
        secret = mint_key(
            args.data, account=args.account, kind=args.kind, feed=args.feed, name=args.name
        )
    except ValueError as exc:
        parser.error(str(exc))
    print(secret, flush=True)
    return 0
