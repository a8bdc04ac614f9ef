"""The app's log file: every record passes through secret masking first."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from console.common.redaction import redact_secrets


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then masks any key secret (messages, arguments, tracebacks)."""

    def format(self, record: logging.LogRecord) -> str:
        """The formatted record with secrets masked."""
        return redact_secrets(super().format(record))


def configure_logging(log_file: Path, *, level: int = logging.INFO) -> logging.Handler:
    """Send the console's logs to a rotating file with masking; return the handler."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(min(root.level or level, level))
    logging.getLogger("console").setLevel(level)
    # httpx logs full URLs at INFO; query auth would put the key in them.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return handler
