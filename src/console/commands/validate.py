"""`integration-console validate FILE...`: lint pipeline definitions for pre-commit and CI.

Offline by default (no connection or hook checks); with `--profile NAME` the ids are
checked against that server's catalogue. Exit 0 clean, 1 problems, 2 usage errors,
3 an internal error (one line on stderr, never a traceback).

The checks are the server's own (`console.definition`), limits included: a file this
command passes is never refused by the server for anything the file itself shows.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from console.definition import Catalog, Format, Problem, validate_text
from console.definition.limits import MAX_DOCUMENT_BYTES
from console.definition.validator import not_utf8_problem, too_large_problem

if TYPE_CHECKING:
    from console.config.secrets import SecretStore

API_KEY_ENV = "INTEGRATION_CONSOLE_API_KEY"
EXIT_CLEAN, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
_EXTENSIONS: dict[str, Format] = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}


class UsageError(Exception):
    """Something the user must fix before linting can run; the message says what."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="integration-console validate",
        description="Lint pipeline definition files (YAML or JSON). Exit status: 0 clean, "
        "1 problems found, 2 usage error, 3 internal error.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="definition files; - for stdin")
    parser.add_argument(
        "--profile",
        metavar="NAME",
        help="also check connection and hook ids against this connection profile's server",
    )
    parser.add_argument(
        "--format",
        choices=("yaml", "json"),
        help="parse every file as this format (default: by extension, else by content)",
    )
    return parser


def main(argv: list[str] | None = None, *, secrets: SecretStore | None = None) -> int:
    """Lint the files named in `argv`; return the exit status. `secrets` is for tests."""
    try:
        return _lint(argv, secrets)
    except Exception as exc:  # a bug of ours: one line to act on, not a traceback
        detail = " ".join(str(exc).split())[:300]
        print(
            f"integration-console validate: internal error: {type(exc).__name__}"
            + (f": {detail}" if detail else ""),
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _lint(argv: list[str] | None, secrets: SecretStore | None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage message
        return EXIT_CLEAN if exc.code == 0 else EXIT_USAGE
    try:
        texts = [(name, _read(name)) for name in args.files]
        catalog = None if args.profile is None else _fetch_catalog(args.profile, secrets)
    except UsageError as exc:
        print(f"integration-console validate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    found = False
    for name, text in texts:
        fmt = args.format or _EXTENSIONS.get(Path(name).suffix.lower())
        if text is None:
            problems: tuple[Problem, ...] = (too_large_problem(),)
        elif isinstance(text, Problem):
            problems = (text,)
        else:
            problems = validate_text(text, format=fmt, catalog=catalog).problems
        found = found or bool(problems)
        for problem in sorted(problems, key=_line_order):
            print(problem.format_for_lint(name))
    return EXIT_PROBLEMS if found else EXIT_CLEAN


def _line_order(problem: Problem) -> tuple[int, int]:
    return problem.line, problem.column


def _read(name: str) -> str | Problem | None:
    """The file's text as the server would decode the same bytes; None when over 1 MiB,
    the problem when it is not UTF-8 (the server's 400, so a problem, not a usage error).

    Bytes, not text mode: newline translation would shrink a CRLF file below the cap the
    server counts in bytes. Reading stops one byte past the cap, so a huge file costs
    nothing.
    """
    try:
        if name == "-":
            raw = sys.stdin.buffer.read(MAX_DOCUMENT_BYTES + 1)
        else:
            with Path(name).open("rb") as file:
                raw = file.read(MAX_DOCUMENT_BYTES + 1)
        if len(raw) > MAX_DOCUMENT_BYTES:
            return None
        try:
            return raw.decode("utf-8-sig")  # the server drops a byte-order mark too
        except UnicodeDecodeError as exc:
            return not_utf8_problem(raw, exc)
    except FileNotFoundError:
        raise UsageError(f"{name}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{name}: cannot read it ({exc.strerror or exc})") from None


def _fetch_catalog(profile_name: str, secrets: SecretStore | None) -> Catalog:
    """The profile's catalogue: connection ids by role and hook ids."""
    # Imported here: offline linting (the pre-commit case) needs neither asyncio, httpx
    # nor keyring, and starts faster without them.
    import asyncio

    from console.api.errors import ApiError
    from console.config.paths import AppPaths
    from console.config.profiles import SettingsStore
    from console.config.secrets import SecretStore, profile_account

    settings_file = AppPaths.from_environment().settings_file
    settings = SettingsStore(settings_file).load()
    profile = settings.profile(profile_name)
    if profile is None:
        known = ", ".join(p.name for p in settings.profiles) or "none"
        raise UsageError(
            f"no connection profile called {profile_name!r} in {settings_file} "
            f"(profiles: {known}); add it in the console's profile manager"
        )
    if profile.is_sandbox:
        raise UsageError(
            f"profile {profile_name!r} is the embedded sandbox, which runs only inside the "
            "console; lint offline without --profile, or use a profile with a server URL"
        )
    store = secrets or SecretStore()
    key = store.get(profile_account(profile.name)) or os.environ.get(API_KEY_ENV)
    if not key:
        reason = store.unavailable_reason
        where = f"the keychain has none ({reason})" if reason else "the keychain has none"
        raise UsageError(
            f"no API key for profile {profile_name!r}: {where}; enter the key in the "
            f"console's profile manager, or set {API_KEY_ENV} (for CI)"
        )
    try:
        return asyncio.run(_download_catalog(profile.base_url, key, profile.auth_mode))
    except ApiError as exc:
        raise UsageError(f"cannot fetch the catalogue of {profile.base_url}: {exc}") from None


async def _download_catalog(base_url: str, key: str, auth_mode: str) -> Catalog:
    from console.api.catalog import CatalogApi
    from console.api.transport import ApiClient

    client = ApiClient(base_url, key, auth_mode="query" if auth_mode == "query" else "header")
    try:
        api = CatalogApi(client)
        connections = await api.connections()
        hooks = await api.hooks()
    finally:
        await client.aclose()
    return Catalog.of(((c.id, c.role) for c in connections), (h.id for h in hooks))
