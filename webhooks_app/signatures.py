"""Webhook signature checks, done by hand on the raw body (constant-time compares).

Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>][,v0=<hex>]`, where
`v1 = HMAC-SHA256(secret, f"{t}.{body}")`; any `v1` may match (secret rotation), `v0`
is ignored (downgrade attacks), and `t` must be within the tolerance both ways
(stripe-python only rejects old timestamps; a future one is refused here too) —
`stale_signature`, so a captured delivery replayed later is refused even though
its signature is valid; within the tolerance the event id's dedupe stops it.
LemonSqueezy: `X-Signature: hex(HMAC-SHA256(secret, body))`, no timestamp.
"""

import hashlib
import hmac
import time

from webhooks_app.errors import InvalidSignature, StaleSignature


def _hmac_hex(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest().encode()


def _as_bytes(value: str) -> bytes:
    # compare_digest refuses non-ASCII str; headers are attacker-controlled.
    return value.encode("utf-8", "replace")


def stripe_signature_verify(
    *,
    body: bytes,
    header: str | None,
    secret: str,
    tolerance: int,
    now: float | None = None,
) -> int:
    """Return the signed timestamp, or raise `InvalidSignature`."""
    if not header:
        raise InvalidSignature("Missing Stripe-Signature header.")
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise InvalidSignature(
                    "Malformed Stripe-Signature timestamp."
                ) from None
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise InvalidSignature("Stripe-Signature has no timestamp or no v1 signature.")
    expected = _hmac_hex(secret, str(timestamp).encode() + b"." + body)
    # Compare against every v1 without short-circuiting on the first match.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, _as_bytes(candidate))
    if not matched:
        raise InvalidSignature("No Stripe-Signature v1 value matches.")
    current = time.time() if now is None else now
    if tolerance and timestamp < current - tolerance:
        raise StaleSignature("Stripe-Signature timestamp is too old.")
    if tolerance and timestamp > current + tolerance:
        raise StaleSignature("Stripe-Signature timestamp is in the future.")
    return timestamp


def lemonsqueezy_signature_verify(
    *, body: bytes, header: str | None, secret: str
) -> None:
    """Raise `InvalidSignature` unless `header` is the hex HMAC of `body`."""
    if not header:
        raise InvalidSignature("Missing X-Signature header.")
    if not hmac.compare_digest(_hmac_hex(secret, body), _as_bytes(header.strip())):
        raise InvalidSignature("X-Signature does not match the body.")
