"""Logging that an operator can read, and that never carries a secret.

Every handler gets :class:`RedactingFilter`, which masks the configured secret values wherever they
appear (message, arguments, exception text) and known secret-bearing fields such as ``wstoken=``,
``client_assertion=`` or ``Authorization: Bearer``.

Every line says what it belongs to: the web side binds a **request id** per HTTP request (taken from
the proxy's ``X-Request-ID`` when it is well-formed, else new, and sent back in the response), the
daemon a **job id** per work item (``kind:id``). They live in context variables, so each thread (a
gunicorn thread, a daemon worker) carries its own; text lines show ``[req=…]`` / ``[job=…]``, JSON
lines ``request_id`` / ``job_id`` fields.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

MASK = "********"
_PATTERNS = [
    re.compile(r"(?i)(wstoken=)[^&\s'\"]+"),
    re.compile(r"(?i)(token=)[^&\s'\"]+"),
    re.compile(r"(?i)(client_assertion=)[^&\s'\"]+"),
    re.compile(r"(?i)(authorization['\"]?\s*:\s*['\"]?(?:bearer|basic)\s+)[^\s'\"]+"),
    re.compile(r"(?i)(['\"]?(?:password|secret|private_key|access_token|ws_token)['\"]?\s*[:=]\s*['\"]?)[^'\",\s}]+"),
    re.compile(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----)[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----)"),
]
_known_secrets: set[str] = set()
request_id: ContextVar[str | None] = ContextVar("credbridge_request_id", default=None)
job_id: ContextVar[str | None] = ContextVar("credbridge_job_id", default=None)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def new_request_id(offered: str | None = None) -> str:
    """The proxy's id when it looks like one (no spaces, no injection into log lines), else a new one."""
    if offered and _REQUEST_ID.match(offered):
        return offered
    return uuid.uuid4().hex


@contextmanager
def job_context(value: str) -> Iterator[None]:
    """Bind a job id (``kind:id``) to every log line written inside the block, in this thread."""
    token = job_id.set(value)
    try:
        yield
    finally:
        job_id.reset(token)


class ContextFilter(logging.Filter):
    """Puts the current request id and job id on every record (``record.request_id``, ``record.job_id``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.job_id = job_id.get()
        context = " ".join(f"[{name}={value}]" for name, value in (("req", record.request_id),
                                                                    ("job", record.job_id)) if value)
        record.context = f" {context}" if context else ""
        return True


def register_secret(value: str | None) -> None:
    """Mask this exact value in every log line from now on (tokens read from the store, keys…)."""
    if value and len(value) >= 6:
        _known_secrets.add(value)


def redact(text: str) -> str:
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK + (m.group(2) if m.lastindex == 2 else ""), text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "job_id"):
            value = getattr(record, key, None)
            if value:
                entry[key] = value
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    for value in secrets:
        register_secret(value)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.addFilter(ContextFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s:%(context)s %(message)s",
                                               "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "werkzeug", "apscheduler.executors.default", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
