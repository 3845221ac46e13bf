"""Log set-up of POT's long-running programs (worker, ingester, unsubscribe endpoint): one line per
record on stderr, with a timestamp, as text or JSON (`POT_LOG_JSON`). Called once by each program's cli."""

from __future__ import annotations

import json
import logging
import sys

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": self.formatTime(record),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            }
        )


def configure_logging(as_json: bool, *, quiet: tuple[str, ...] = ()) -> None:
    """Root logging at INFO to stderr; `quiet` loggers only from WARNING (e.g. a library whose INFO
    lines quote server data)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if as_json else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
