"""The subscription's state before a handler runs, to notify only on a change."""

from billing.models import Subscription


def subscription_state(*, provider: str, external_id: str) -> tuple[str, str] | None:
    """(status, plan name) of the subscription with this provider id, or None."""
    row = (
        Subscription.objects.filter(provider=provider, external_id=external_id)
        .values_list("status", "plan__name")
        .first()
    )
    return (row[0], row[1]) if row else None
