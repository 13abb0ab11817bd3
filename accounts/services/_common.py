"""Helpers shared by the account services (not part of the public API)."""

from collections.abc import Callable

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.credentials import identity_cache_invalidate
from accounts.errors import (
    PasswordRejected,
)
from accounts.models import User


def normalize_email(email: str) -> str:
    return User.objects.normalize_email(email)


def validate_new_password(password: str, *, user: User, field: str) -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise PasswordRejected(details={"fields": {field: list(exc.messages)}}) from exc


def now_and_after_commit(invalidate: Callable[[], None]) -> None:
    """Drop cached identities at once and again after commit, so a reader racing
    the transaction cannot leave the old state cached."""
    invalidate()
    transaction.on_commit(invalidate)


def invalidate_identity(user: User, *, with_keys: bool = False) -> None:
    hashes = (
        list(user.api_keys.values_list("hashed_key", flat=True)) if with_keys else []
    )

    def invalidate() -> None:
        identity_cache_invalidate(user_id=user.pk)
        for hashed in hashes:
            identity_cache_invalidate(hashed_key=hashed)

    now_and_after_commit(invalidate)
