"""Every client shares one verifying SSL context, built once (off the UI thread at start)."""

from __future__ import annotations

import ssl

import pytest

from console.api.transport import ApiClient, default_ssl_context, ssl_context_for
from tests.conftest import run


def test_clients_share_one_verifying_context_and_never_load_the_ca_bundle_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    context = default_ssl_context()  # what the start-up thread builds
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert default_ssl_context() is context

    def bundle_loaded_again(*args: object, **kwargs: object) -> ssl.SSLContext:
        raise AssertionError("a client built its own context (~35 ms each)")

    # httpx builds its default context with this (from certifi or $SSL_CERT_FILE/DIR).
    monkeypatch.setattr(ssl, "create_default_context", bundle_loaded_again)
    clients = [
        ApiClient("https://example.invalid/api", "fdk_" + "a" * 40),
        ApiClient("http://127.0.0.1:9", "fdk_" + "b" * 40),
    ]
    for client in clients:
        run(client.aclose())


def test_a_plain_http_client_gets_a_context_that_trusts_nothing() -> None:
    context = ssl_context_for("http://127.0.0.1:8765")
    assert context is not default_ssl_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0  # no CA bundle was loaded
    assert ssl_context_for("HTTPS://api.example.com") is default_ssl_context()
