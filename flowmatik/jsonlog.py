"""JSON-lines log formatting with request context and secret redaction."""

import json
import logging
import re
from datetime import UTC, datetime

from flowmatik.request_context import request_id_var, user_id_var

# LogRecord attributes that are not "extras" a caller passed.
_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "userId",
    "requestId",
    "service",
}
_SECRET_KEY_RE = re.compile(
    r"pass(word|wd)?$|secret|(^|_)(token|refresh|access)$|authorization|api[_-]?key"
    r"|cookie|signature|^key$",
    re.I,
)
_BEARER_RE = re.compile(r"(Bearer\s+|fmk_|sk_(live|test)_|whsec_)[A-Za-z0-9._\-]+")
# `?token=...` / `&api_key=...` in a logged URL, and a bare JWT anywhere.
_QUERY_SECRET_RE = re.compile(
    r"((?:^|[?&;\s])(?:access_)?(?:token|api[_-]?key|key|ticket)=)[^&\s\"']+",
    re.I,
)
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
REDACTED = "[REDACTED]"
# The record attribute holding its formatted line (private: not an extra field)
_LINE_ATTR = "_flowmatik_json_line"


# Each pattern above needs one of these in the text, and most log text has none:
# one search instead of three substitutions.
_SECRET_MARKER_RE = re.compile(r"=|eyJ|Bearer|fmk_|sk_(?:live|test)_|whsec_")


def redact_text(text: str) -> str:
    """`text` with every credential we can recognise replaced."""
    if not _SECRET_MARKER_RE.search(text):
        return text
    text = _QUERY_SECRET_RE.sub(lambda m: m.group(1) + REDACTED, text)
    text = _JWT_RE.sub(REDACTED, text)
    return _BEARER_RE.sub(lambda m: m.group(1) + REDACTED, text)


def redact(value: object, key: str = "") -> object:
    """Replace secrets in a value destined for a log line."""
    if key and _SECRET_KEY_RE.search(key):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class RedactSecretsFilter(logging.Filter):
    """Redact credentials from records of loggers we do not format (uvicorn's).

    uvicorn logs each WebSocket handshake with its query string, where a client may
    have put `?token=`; the record's message is rewritten before any handler sees it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


class RequestContextFilter(logging.Filter):
    """Stamp every record with the current request id and user id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "requestId"):
            record.requestId = request_id_var.get()
        if not hasattr(record, "userId"):
            record.userId = user_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the design document's field names.

    The line is kept on the record: the stdout handler and the queryable store
    both format every record, and the second gets the first's line."""

    def format(self, record: logging.LogRecord) -> str:
        line = record.__dict__.get(_LINE_ATTR)
        if line is None:
            line = record.__dict__[_LINE_ATTR] = self._format(record)
        return line

    def _format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, tz=UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "service": getattr(record, "service", None) or record.name,
            "message": redact(record.getMessage()),
            "userId": getattr(record, "userId", None),
            "requestId": getattr(record, "requestId", None),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = redact(value, key)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)
