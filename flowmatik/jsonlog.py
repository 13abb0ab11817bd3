"""JSON-lines log formatting with request context and secret redaction."""

import json
import logging
import re
from datetime import UTC, datetime

import orjson

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


# Whether a field name names a secret, per name: log fields are the code's own names,
# a few dozen; bounded all the same.
_SECRET_NAMES: dict[str, bool] = {}
_SECRET_NAMES_MAX = 4096
# Values written as they are (no text to redact)
_PLAIN_TYPES = (int, float, bool, type(None))
# orjson writes what json.dumps(default=str) would, but for datetimes and
# dataclasses (str() here, as json did); json for what orjson refuses (keys that are
# not strings, integers over 64 bits).
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _names_secret(key: str) -> bool:
    found = _SECRET_NAMES.get(key)
    if found is None:
        found = _SECRET_KEY_RE.search(key) is not None
        if len(_SECRET_NAMES) < _SECRET_NAMES_MAX:
            _SECRET_NAMES[key] = found
    return found


def redact(value: object, key: str = "") -> object:
    """Replace secrets in a value destined for a log line."""
    if key and _names_secret(key):
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
            if key in _STANDARD_ATTRS or key.startswith("_"):
                continue
            if _names_secret(key):
                payload[key] = REDACTED
            elif isinstance(value, _PLAIN_TYPES):
                payload[key] = value
            else:
                payload[key] = redact(value)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(payload, default=str, option=_ORJSON_OPTIONS).decode()
        except TypeError:
            return json.dumps(payload, default=str, ensure_ascii=False)
