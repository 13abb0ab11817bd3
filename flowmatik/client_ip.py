"""The client's IP address, from ONE setting, for every per-IP decision.

Rate limits (django-ratelimit), log-in lockouts (django-axes), the AI calls' per-IP
limit, the metrics allow-list and the WebSocket chat all ask here.

`CLIENT_IP_META_KEY` names the request.META key to read (default `REMOTE_ADDR`).
Behind a reverse proxy, keep `REMOTE_ADDR` and list the proxy in uvicorn's
`--forwarded-allow-ips` (`FORWARDED_ALLOW_IPS`): uvicorn then takes the client from
`X-Forwarded-For` only when the proxy itself sent it. A header your proxy sets to a
single address (`HTTP_X_REAL_IP`) works too. When the key holds a list, the LAST
entry is used: it is the one the nearest proxy appended, while the first can be
anything the client sent.
"""

from collections.abc import Iterable, Mapping

from django.conf import settings
from django.http import HttpRequest


def _last(value: str) -> str:
    return value.rsplit(",", 1)[-1].strip()


def client_ip(request: HttpRequest) -> str:
    """The client address of an HTTP request ("" when unknown)."""
    return _last(str(request.META.get(settings.CLIENT_IP_META_KEY) or ""))


def client_ip_from_scope(scope: Mapping) -> str:
    """The client address of an ASGI (WebSocket) scope, by the same setting."""
    key = settings.CLIENT_IP_META_KEY
    if key == "REMOTE_ADDR":
        client = scope.get("client") or ("", None)
        return str(client[0] or "")
    if not key.startswith("HTTP_"):
        return ""
    wanted = key[5:].replace("_", "-").lower().encode("latin-1")
    headers: Iterable = scope.get("headers") or []
    values = [value.decode("latin-1") for name, value in headers if name == wanted]
    return _last(",".join(values)) if values else ""
