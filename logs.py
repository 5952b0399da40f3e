"""Structured JSON logs with secrets, phone numbers and emails masked."""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import re
import sys
import time
from typing import Any

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
# Runs of 7+ digits (optionally with +, spaces, dots, dashes, parentheses) look like phones.
_PHONE = re.compile(r"\+?\(?\d[\d\s().-]{5,}\d")
_SECRET_KEYS = re.compile(r"(token|secret|password|jwt|authorization|signature|assertion|code)", re.I)
_QUERY_SECRET = re.compile(r"([?&](?:token|code|key|hub\.verify_token)=)[^&\s]+", re.I)


def mask_phone(text: str) -> str:
    """Keep the last 4 digits of a phone-like run."""
    digits = re.sub(r"\D", "", text)
    if len(digits) < 7:
        return text
    return "***" + digits[-4:]


def mask_text(text: str) -> str:
    """Mask emails, phone numbers and query-string secrets inside free text."""
    text = _QUERY_SECRET.sub(r"\1***", text)
    text = _EMAIL.sub(r"\1***@\2", text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


def mask_value(key: str, value: Any) -> Any:
    """Mask one structured field by its name and content."""
    if value is None or (isinstance(value, (bool, int, float)) and not _SECRET_KEYS.search(key)):
        return value
    if _SECRET_KEYS.search(key):
        return "***"
    if isinstance(value, dict):
        return {k: mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_value(key, v) for v in value]
    return mask_text(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as masked JSON."""
        payload = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": mask_text(record.getMessage()),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            for key, value in extra.items():
                payload[key] = mask_value(key, value)
        if record.exc_info:
            payload["exc"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(payload, default=str, ensure_ascii=False)


class _DeferredQueueHandler(logging.handlers.QueueHandler):
    """Hand records to the writer thread as they are: formatting (JSON, masking) happens there.

    Not on the request thread, and not under a handler lock that every request would queue on.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """No pre-formatting: the listener runs in this process."""
        return record


_LISTENER: list[logging.handlers.QueueListener] = []


def configure(level: str = "INFO") -> None:
    """Install JSON logging on the root logger once: records queue, one thread formats and writes."""
    root = logging.getLogger()
    root.setLevel(level)
    for noisy in ("werkzeug", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if _LISTENER:
        return
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(JsonFormatter())
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, stream, respect_handler_level=False)
    listener.start()
    _LISTENER.append(listener)
    root.handlers[:] = [_DeferredQueueHandler(records)]
    # Flush what is queued when the process exits normally (SIGTERM included).
    atexit.register(listener.stop)


def log(logger: logging.Logger, level: int, msg: str, **fields: Any) -> None:
    """Log `msg` with structured fields (masked by the formatter)."""
    logger.log(level, msg, extra={"fields": fields})
