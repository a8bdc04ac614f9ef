"""The app's log file: every record passes through secret masking first."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

from console.common.private_files import open_private, private_directory
from console.common.redaction import redact_secrets


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then masks any key secret (messages, arguments, tracebacks)."""

    def format(self, record: logging.LogRecord) -> str:
        """The formatted record with secrets masked."""
        return redact_secrets(super().format(record))


class EarlyRecords(logging.Handler):
    """Holds records until the log file is configured (after the first paint), then
    passes each on to it.

    It stays the root's handler: swapping handlers while another thread logs could
    lose a record or write it twice.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.target: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record, or pass it on once the file is configured."""
        if self.target is not None:
            self.target.handle(record)
        else:
            self.records.append(record)

    def release_to(self, target: logging.Handler, level: int) -> None:
        """Write the held records (those at `level` or above) to `target`, then forward."""
        self.acquire()  # Handler.handle holds it around emit
        try:
            for record in self.records:
                if record.levelno >= level:
                    target.handle(record)
            self.records.clear()
            self.target = target
        finally:
            self.release()


def hold_early_records(level: int = logging.INFO) -> EarlyRecords:
    """Collect the console's records until `configure_logging(..., early=...)` runs."""
    early = EarlyRecords()
    logging.getLogger().addHandler(early)
    logging.getLogger("console").setLevel(level)
    return early


def configure_logging(
    log_file: Path, *, level: int = logging.INFO, early: EarlyRecords | None = None
) -> logging.Handler:
    """Send the console's logs to a rotating file with masking; return the handler.

    Records held by `early` (logged before this ran) are written first, in order.
    """
    import logging.handlers  # ~8 ms (pickle, socket): not on the way to the first paint

    class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
        """A rotating log whose every file is created 0600, whatever the umask."""

        def _open(self) -> io.TextIOWrapper:
            # The stock handler opens with open(), i.e. 0666 narrowed by the umask;
            # rotation renames, so each backup keeps the 0600 its file was created
            # with. A rotating handler always appends.
            fd = open_private(Path(self.baseFilename), os.O_WRONLY | os.O_APPEND)
            return open(fd, "a", encoding=self.encoding, errors=self.errors)

    private_directory(log_file.parent)
    handler = PrivateRotatingFileHandler(
        log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    if early is not None:
        early.release_to(handler, level)
    else:
        root.addHandler(handler)
    root.setLevel(min(root.level or level, level))
    logging.getLogger("console").setLevel(level)
    # httpx logs full URLs at INFO; query auth would put the key in them.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return handler
