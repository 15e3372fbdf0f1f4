"""JSON logs, one object per line, each carrying the request id when there is one."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_MOBILE = re.compile(r"(?<!\d)((?:\+?86[- ]?)?1[3-9]\d)\d{4}(\d{4})(?!\d)")
# Any other number in E.164 form (+44 7911 123456, +14155550123; a URL may encode the plus
# as %2B): what is left after the mainland pattern. 7 to 15 digits, spaces or dashes
# between them.
_INTL_MOBILE = re.compile(r"(?<![\d*])(?:\+|%2[Bb])\d(?:[ -]?\d){6,14}(?!\d)")
# What the patterns need: an @, 11 digits in a row, or a plus before a digit. One search for
# it is cheaper than the substitutions, and almost no log text (paths, methods, addresses)
# has it.
_MAYBE_PERSONAL = re.compile(r"@|\d{11}|\+\d|%2[Bb]\d")
ACCESS_LOG = logging.getLogger("app.access")


def mask_personal(text: str) -> str:
    """Email addresses and mobile numbers, masked (PIPL: logs are not a copy of the user
    table): a***@example.com, 138****5678, +44********56."""
    if not _MAYBE_PERSONAL.search(text):
        return text
    text = _MOBILE.sub(r"\1****\2", _EMAIL.sub(r"\1***@\2", text))
    return _INTL_MOBILE.sub(_mask_international, text)


def _mask_international(match: re.Match) -> str:
    """+44********56: the country's first digits and the last two, as the mainland
    pattern keeps a prefix and a suffix."""
    digits = re.sub(r"\D", "", match.group()[1:] if match.group()[0] == "+"
                    else match.group()[3:])
    return f"+{digits[:2]}{'*' * (len(digits) - 4)}{digits[-2:]}"


def _masked(value):
    return mask_personal(value) if isinstance(value, str) else value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": mask_personal(record.getMessage()),
        }
        if has_request_context() and "request_id" in g:
            entry["request_id"] = g.get("request_id_logged", g.request_id)
        entry.update({k: _masked(v) for k, v in getattr(record, "fields", {}).items()})
        if record.exc_info:
            entry["exc"] = mask_personal(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


_DIGIT_RUN = re.compile(r"\d{7,}")


def mask_request_id(request_id: str) -> str:
    """A client-supplied request id, as logged: the client chooses it and may put a phone
    number in it, with no plus or prefix to recognise it by (an @ is refused, so never an
    email address). Every run of 7 or more digits keeps its first and last 2 only."""
    masked = mask_personal(request_id)
    return _DIGIT_RUN.sub(lambda m: m.group()[:2] + "*" * (len(m.group()) - 4)
                          + m.group()[-2:], masked)


class MaskPersonal(logging.Filter):
    """Masks a record's message and traceback before any handler formats it: for loggers
    this module does not format, such as gunicorn's own (gunicorn.conf.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = mask_personal(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_personal(logging.Formatter().formatException(record.exc_info))
        return True


def configure(app: Flask) -> None:
    root = logging.getLogger()
    # Tests build many apps in one process: replace our handler, never stack copies.
    for handler in list(root.handlers):
        if getattr(handler, "_carbon_points", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._carbon_points = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"])
    app.logger.handlers.clear()
    app.logger.propagate = True
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    app.before_request(_start)
    app.after_request(_finish)


def _start() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    if _SAFE_ID.match(incoming):
        g.request_id, g.request_id_logged = incoming, mask_request_id(incoming)
    else:
        g.request_id = g.request_id_logged = uuid.uuid4().hex
    g.started = time.perf_counter()


def _finish(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
    ACCESS_LOG.info(
        "%s %s %s", request.method, request.path, response.status_code,
        extra={"fields": {"method": request.method, "path": request.path,
                          "status": response.status_code,
                          "duration_ms": round(elapsed_ms, 2),
                          "remote_addr": request.remote_addr}},
    )
    return response
