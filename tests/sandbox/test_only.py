"""`sandbox serve --only PARTS`: just those parts answer, and /openapi.json lists just them."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from console.api.capabilities import PARTS as CONSOLE_PARTS
from console.api.capabilities import PROBES, parts_from_openapi
from console.sandbox.cli import main
from console.sandbox.process import SandboxProcess
from console.sandbox.settings import PARTS
from console.sandbox.storage.sqlite import mint_key

# A request per part that reaches the part's handler on a server offering it (so it is
# never the router's 404 NOT_FOUND there).
REACHES: dict[str, tuple[str, str]] = {
    "keys": ("GET", "/api/public/v1/keys"),
    "pipelines": ("GET", "/api/public/v1/pipelines"),
    "feeds": ("GET", "/api/public/v1/feeds"),
    "records": ("GET", "/api/public/v1/feeds/demo/records"),
    "intents": ("POST", "/ingest/demo/upsert"),
    "ingest": ("POST", "/api/ingest"),
    "logs": ("GET", "/api/public/v1/logs"),
}


def test_the_sandbox_names_the_parts_the_console_knows() -> None:
    assert PARTS == CONSOLE_PARTS
    assert set(REACHES) == set(PARTS) == set(PROBES)


@pytest.mark.parametrize(
    "only",
    [
        ("keys", "pipelines"),  # an Integrate.io account
        ("intents",),  # a Frontic ingest host
        ("ingest",),  # an Inspire connector
        ("records", "logs"),
    ],
)
def test_only_the_parts_named_answer(
    make_sandbox: Callable[..., SandboxProcess], only: tuple[str, ...]
) -> None:
    server = make_sandbox(extra_args=["--only", ",".join(only)])
    key = mint_key(server.data_dir, account="only", kind="admin")
    with httpx.Client(
        base_url=str(server.base_url), headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as http:
        for part, (method, path) in REACHES.items():
            response = http.request(method, path, json={"id": "1"})
            if part in only:
                assert response.is_success or response.json()["error"]["code"] != "NOT_FOUND", (
                    part,
                    response.text,
                )
            else:
                assert response.status_code == 404, (part, response.text)
                assert response.json()["error"]["code"] == "NOT_FOUND", (part, response.text)
        document = http.get("/openapi.json").json()
    assert parts_from_openapi(document) == frozenset(only)
    # Connections and hooks come with the pipelines (their definitions name them).
    catalogue = {"/api/public/v1/connections", "/api/public/v1/hooks"}
    assert (catalogue <= document["paths"].keys()) == ("pipelines" in only)
    assert "/openapi.json" in document["paths"]


def test_an_unknown_part_is_a_clear_command_line_error(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--data", str(tmp_path), "--only", "keys,recrods"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "--only" in error
    assert "'recrods'" in error
    assert "keys, pipelines, feeds, records, intents, ingest, logs" in error


def test_an_empty_part_list_is_refused(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--data", str(tmp_path), "--only", ""])
    assert "expected a comma-separated list" in capsys.readouterr().err
