"""Event handlers per provider: `handler_for(provider, event_type)` or None (ignored).

A handler has two steps: `prepare(payload)` runs outside any transaction and may call
the provider (dj-stripe re-reads objects from Stripe there); its result goes to
`apply(payload, prepared)`, which runs in the transaction that marks the event
processed and calls billing's services. Both must be safe to run again after a
failure (billing's sync services are upserts guarded by the object's timestamps).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Payload = dict[str, Any]


def _no_preparation(payload: Payload) -> Any:
    return None


@dataclass(frozen=True)
class Handler:
    apply: Callable[[Payload, Any], None]
    prepare: Callable[[Payload], Any] = _no_preparation


def handler_for(provider: str, event_type: str) -> Handler | None:
    from webhooks_app.handlers import lemonsqueezy, stripe

    registry = {"stripe": stripe.HANDLERS, "lemonsqueezy": lemonsqueezy.HANDLERS}
    return registry.get(provider, {}).get(event_type)
