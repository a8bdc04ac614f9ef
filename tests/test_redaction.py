"""Only prefix and last four characters of a key ever leave the process."""

from __future__ import annotations

import logging
from pathlib import Path

from console.app.logging_setup import configure_logging
from console.common.redaction import mask_secret, redact_secrets

ADMIN = "fdk_" + "A1b2" * 10
INGEST = "ik_live_" + "Zz09" * 8


def test_redact_masks_both_key_kinds_anywhere_in_text() -> None:
    text = f"url=http://h/x?apiKey={ADMIN}&y=1 header Bearer {INGEST}."
    masked = redact_secrets(text)
    assert ADMIN not in masked
    assert INGEST not in masked
    assert "fdk_…A1b2" in masked
    assert "ik_live_…Zz09" in masked
    assert mask_secret(ADMIN) == "fdk_…A1b2"


def test_redact_leaves_longer_tokens_alone() -> None:
    longer = "fdk_" + "x" * 41
    assert redact_secrets(longer) == longer


def test_log_file_never_holds_a_secret(tmp_path: Path) -> None:
    handler = configure_logging(tmp_path / "logs" / "console.log")
    try:
        log = logging.getLogger("console.test")
        log.warning("connecting with %s", ADMIN)
        try:
            raise RuntimeError(f"failed for {INGEST}")
        except RuntimeError:
            log.exception("boom")
        handler.flush()
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    text = (tmp_path / "logs" / "console.log").read_text()
    assert "fdk_…A1b2" in text
    assert "ik_live_…Zz09" in text
    assert ADMIN not in text
    assert INGEST not in text
