"""`integration-console validate`: lint lines, exit statuses, and `--profile` against a server."""

from __future__ import annotations

import concurrent.futures
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from console.api.catalog import CatalogApi
from console.api.transport import ApiClient
from console.commands.validate import main
from console.config.profiles import ConnectionProfile, Settings, SettingsStore
from console.config.secrets import SecretStore, profile_account
from console.definition import MINIMAL_EXAMPLE_YAML, minimal_example
from console.definition.limits import MAX_DOCUMENT_BYTES
from tests.conftest import run
from tests.definition.limit_cases import BAD_CASES, GOOD_CASES, POSITIONS, Case
from tests.definition.test_positions import YAML_WITH_UNKNOWN_KEY_ON_LINE_14


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _main_in_thread(argv: list[str], **kwargs: Any) -> int:
    # main() runs asyncio.run for --profile; GUI tests may leave a loop marked running
    # on the main thread, so run it where no loop exists.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(main, argv, **kwargs).result()


def test_unknown_key_on_line_14_prints_file_14_and_exits_1(tmp_path: Path) -> None:
    path = _write(tmp_path, "pipeline.yaml", YAML_WITH_UNKNOWN_KEY_ON_LINE_14)
    result = subprocess.run(
        [sys.executable, "-m", "console", "validate", path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout == (f"{path}:14:5: error: unknown key 'colour' [tables[0].colour]\n")


def test_a_clean_file_exits_0_silently(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "ok.yml", MINIMAL_EXAMPLE_YAML)
    assert main([path]) == 0
    assert capsys.readouterr().out == ""


def test_problems_are_sorted_by_line_per_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = MINIMAL_EXAMPLE_YAML.replace("definition_version: 1", "definition_version: 9")
    text += "    colour: red\nowner: me\n"
    first = _write(tmp_path, "a.yaml", text)
    second = _write(tmp_path, "b.yaml", MINIMAL_EXAMPLE_YAML)
    third = _write(tmp_path, "c.json", '{"definition_version": 1,\n "name": ""\n')
    assert main([first, second, third]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        f"{first}:1:21: error: definition_version 9 is not supported; use 1 [definition_version]"
    )
    assert lines[1].startswith(f"{first}:13:5: error: unknown key 'colour'")
    assert lines[2].startswith(f"{first}:14:1: error: unknown key 'owner'")
    assert lines[3].startswith(f"{third}:3:1: error: ")
    assert "line 3" not in lines[3]  # the position is said once, in FILE:LINE:COL
    assert len(lines) == 4


def test_format_option_overrides_the_extension(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "definition.txt", "{definition_version: 1}\n")
    assert main([path]) == 1  # sniffed as JSON: unquoted keys do not parse
    assert f"{path}:1:2: error: " in capsys.readouterr().out
    assert main(["--format", "yaml", path]) == 1  # as YAML it parses, but is incomplete
    assert "missing required key 'name'" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [[], ["--format", "toml", "x.yaml"], ["--bogus", "x.yaml"]],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage: integration-console validate" in capsys.readouterr().err


def test_unreadable_files_exit_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: no such file" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 2  # a directory
    assert "cannot read it" in capsys.readouterr().err


def test_a_file_that_is_not_utf8_is_a_problem_at_its_first_bad_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The server answers such a body 400, so the linter reports it (exit 1), not usage."""
    binary = tmp_path / "latin1.yaml"
    binary.write_bytes(b"definition_version: 1\nname: Caf\xe9 sync\n")
    assert main([str(binary)]) == 1
    assert capsys.readouterr().out.startswith(f"{binary}:2:10: error: the document is not UTF-8")


# --profile: a real sandbox server, a settings file in a temp home, a file keyring.


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INTEGRATION_CONSOLE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("INTEGRATION_CONSOLE_API_KEY", raising=False)
    return tmp_path / "home"


def _save_profiles(home: Path, *profiles: ConnectionProfile) -> None:
    SettingsStore(home / "config" / "settings.json").save(Settings(list(profiles)))


def _account_definition(sandbox_url: str, key: str) -> str:
    """The minimal example with this account's own connection and hook ids."""

    async def fetch() -> tuple[int, int, int]:
        client = ApiClient(sandbox_url, key)
        try:
            connections = await CatalogApi(client).connections()
            hooks = await CatalogApi(client).hooks()
        finally:
            await client.aclose()
        source = next(c.id for c in connections if c.role == "source")
        destination = next(c.id for c in connections if c.role == "destination")
        return source, destination, hooks[0].id

    source, destination, hook = run(fetch())
    return (
        minimal_example(source, destination)
        + f"hooks:\n  - id: {hook}\n    events: [sync_failed]\n"
    )


def test_profile_checks_ids_against_the_server(
    tmp_path: Path,
    home: Path,
    sandbox_url: str,
    admin_key: str,
    file_keyring: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _save_profiles(home, ConnectionProfile("Staging", sandbox_url))
    secrets = SecretStore(backend=file_keyring)
    secrets.set(profile_account("Staging"), admin_key)
    good = _account_definition(sandbox_url, admin_key)
    clean = _write(tmp_path, "good.yaml", good)
    code = _main_in_thread(["--profile", "Staging", clean], secrets=secrets)
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    assert captured.out == ""

    bad = _write(tmp_path, "bad.yaml", good.replace("events: [sync_failed]", "events: []"))
    bad_text = Path(bad).read_text().replace("  - id: ", "  - id: 99999")
    Path(bad).write_text(bad_text)
    assert _main_in_thread(["--profile", "Staging", bad], secrets=secrets) == 1
    out = capsys.readouterr().out
    assert "does not exist [hooks[0].id]" in out
    assert "events must list at least one event" in out
    assert main([bad]) == 1  # offline, only the empty events list
    assert "does not exist" not in capsys.readouterr().out


def test_profile_key_can_come_from_the_environment_for_ci(
    tmp_path: Path, home: Path, sandbox_url: str, admin_key: str
) -> None:
    _save_profiles(home, ConnectionProfile("CI", sandbox_url))
    path = _write(tmp_path, "pipeline.yaml", MINIMAL_EXAMPLE_YAML.replace("id: 5", "id: 0"))
    env = {
        **os.environ,
        "INTEGRATION_CONSOLE_API_KEY": admin_key,
        # No keychain in the child: the key must come from the environment.
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    result = subprocess.run(
        [sys.executable, "-m", "console", "validate", "--profile", "CI", path],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 1, result.stderr
    assert "destination connection 0 does not exist [destination.connection.id]" in result.stdout


def test_profile_problems_exit_2_saying_what_to_do(
    tmp_path: Path, home: Path, file_keyring: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "pipeline.yaml", MINIMAL_EXAMPLE_YAML)
    secrets = SecretStore(backend=file_keyring)
    _save_profiles(
        home,
        ConnectionProfile("Sandbox", "", sandbox_data_dir=str(tmp_path / "data")),
        ConnectionProfile("Prod", "https://api.example.com"),
    )
    assert main(["--profile", "Nope", path], secrets=secrets) == 2
    assert "no connection profile called 'Nope'" in capsys.readouterr().err
    assert main(["--profile", "Sandbox", path], secrets=secrets) == 2
    assert "embedded sandbox" in capsys.readouterr().err
    assert main(["--profile", "Prod", path], secrets=secrets) == 2
    err = capsys.readouterr().err
    assert "no API key for profile 'Prod'" in err
    assert "profile manager" in err


def test_an_unreachable_server_exits_2(
    tmp_path: Path, home: Path, file_keyring: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _save_profiles(home, ConnectionProfile("Down", "http://127.0.0.1:9"))
    secrets = SecretStore(backend=file_keyring)
    secrets.set(profile_account("Down"), "fdk_" + "a" * 40)
    path = _write(tmp_path, "pipeline.yaml", MINIMAL_EXAMPLE_YAML)
    assert _main_in_thread(["--profile", "Down", path], secrets=secrets) == 2
    assert "cannot fetch the catalogue" in capsys.readouterr().err


# The server's limits (tests/definition/limit_cases.py): every bad input is a lint line,
# never a traceback; an internal error is exit 3 and one line.

_LINT_LINE = r"^{path}:(\d+):(\d+): (error|warning): (.+)$"


def _run_validate(*paths: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console", "validate", *paths],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda case: case.id)
def test_each_limit_exits_1_with_file_line_col(
    tmp_path: Path, case: Case, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, f"pipeline.{case.format}", case.text())
    assert main([path]) == 1
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert lines
    pattern = re.compile(_LINT_LINE.format(path=re.escape(path)))
    assert all(pattern.match(line) for line in lines), lines
    if case.field is not None:
        line, column = POSITIONS[(case.format, case.field)]
        assert any(
            text.startswith(f"{path}:{line}:{column}: error: ") and text.endswith(f"[{case.field}]")
            for text in lines
        ), lines
    else:
        position = pattern.match(lines[0])
        assert position is not None
        # A parse error's position is said once, in FILE:LINE:COL, not again in the message.
        assert not position.group(4).startswith("line ")


def test_every_limit_in_one_real_process_exits_1_without_a_traceback(tmp_path: Path) -> None:
    paths = [
        _write(tmp_path, f"{i}-{case.id}.{case.format}", case.text())
        for i, case in enumerate(BAD_CASES)
    ]
    result = _run_validate(*paths)
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
    assert "Traceback" not in result.stdout
    for path in paths:
        pattern = re.compile(_LINT_LINE.format(path=re.escape(path)), re.MULTILINE)
        assert pattern.search(result.stdout), path


def test_definitions_at_the_limits_pass_silently(tmp_path: Path) -> None:
    paths = [_write(tmp_path, f"{case.id}.{case.format}", case.text()) for case in GOOD_CASES]
    result = _run_validate(*paths)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_a_file_over_1_mib_is_a_problem_counted_in_bytes_as_the_server_counts(
    tmp_path: Path,
) -> None:
    # CRLF line ends: read as text they would shrink below the limit; the server counts
    # the bytes it receives.
    prefix = MINIMAL_EXAMPLE_YAML.replace("\n", "\r\n")
    comment = "#" + "x" * 98 + "\r\n"  # 101 bytes, 100 once read as text
    body = prefix + comment * ((MAX_DOCUMENT_BYTES + 100 - len(prefix)) // 101 + 1)
    path = tmp_path / "big.yaml"
    path.write_bytes(body.encode())
    assert MAX_DOCUMENT_BYTES < path.stat().st_size < MAX_DOCUMENT_BYTES + 200
    assert len(body.replace("\r\n", "\n").encode()) < MAX_DOCUMENT_BYTES
    result = _run_validate(str(path))
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith(f"{path}:1:1: error: the document is larger than 1 MiB")
    path.write_bytes(body.encode()[: MAX_DOCUMENT_BYTES - 200])  # under it: linted
    assert "larger than 1 MiB" not in _run_validate(str(path)).stdout


def test_an_internal_error_exits_3_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import console.commands.validate as command

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the validator broke\n  with a second line")

    monkeypatch.setattr(command, "validate_text", broken)
    path = _write(tmp_path, "ok.yaml", MINIMAL_EXAMPLE_YAML)
    assert main([path]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "integration-console validate: internal error: RuntimeError: "
        "the validator broke with a second line\n"
    )


def test_an_internal_error_in_a_real_process_exits_3_without_a_traceback(tmp_path: Path) -> None:
    path = _write(tmp_path, "ok.yaml", MINIMAL_EXAMPLE_YAML)
    script = (
        "import sys, console.commands.validate as v\n"
        "def broken(*a, **k): raise MemoryError()\n"
        "v.validate_text = broken\n"
        "sys.exit(v.main(sys.argv[1:]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, path], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3
    assert result.stderr == "integration-console validate: internal error: MemoryError\n"
    assert "Traceback" not in result.stdout + result.stderr
