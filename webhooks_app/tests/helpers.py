"""Signed test deliveries, made with the providers' real signing schemes."""

import hashlib
import hmac
import json
import time
from typing import Any

from django.test import Client

from flowmatik.testing.payments import LEMONSQUEEZY_WEBHOOK_SECRET as LS_SECRET
from flowmatik.testing.payments import STRIPE_WEBHOOK_SECRET as STRIPE_SECRET

STRIPE_URL = "/api/webhooks/stripe"
LS_URL = "/api/webhooks/lemonsqueezy"


def stripe_signature(payload: str, secret: str, ts: int) -> str:
    sig = hmac.new(
        secret.encode(), f"{ts}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={ts},v1={sig}"


def lemonsqueezy_signature(payload: str, secret: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def stripe_event(
    event_type: str,
    obj: dict[str, Any],
    *,
    event_id: str = "evt_test_1",
    created: int | None = None,
) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2026-05-27.dahlia",
        "created": created or int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def post_stripe(
    client: Client,
    event: dict[str, Any] | str,
    *,
    secret: str = STRIPE_SECRET,
    ts: int | None = None,
    header: str | None = None,
):
    body = event if isinstance(event, str) else json.dumps(event)
    if header is None:
        header = stripe_signature(body, secret, ts or int(time.time()))
    return client.post(
        STRIPE_URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )


def ls_event(
    event_name: str,
    data: dict[str, Any],
    *,
    custom_data: dict[str, Any] | None = None,
    test_mode: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"event_name": event_name, "test_mode": test_mode}
    if custom_data is not None:
        meta["custom_data"] = custom_data
    return {"meta": meta, "data": data}


def post_lemonsqueezy(
    client: Client,
    event: dict[str, Any] | str,
    *,
    secret: str = LS_SECRET,
    signature: str | None = None,
):
    body = event if isinstance(event, str) else json.dumps(event)
    if signature is None:
        signature = lemonsqueezy_signature(body, secret)
    event_name = json.loads(body).get("meta", {}).get("event_name", "")
    return client.post(
        LS_URL,
        body,
        content_type="application/json",
        HTTP_X_SIGNATURE=signature,
        HTTP_X_EVENT_NAME=event_name,
    )
