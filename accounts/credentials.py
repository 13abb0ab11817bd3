"""What a credential looks like and where its cached state lives.

Hashing, header parsing and the identity cache's keys and operations, for both the
identity check (`accounts.identity`) and the services that invalidate it. Imports
nothing of accounts', so either side can use it without an import cycle. Every read,
write and invalidation of the identity cache goes through the three functions at
the bottom.
"""

import hashlib
from collections.abc import Mapping
from typing import Any, Literal

from django.conf import settings
from django.core.cache import cache
from rest_framework_simplejwt.utils import get_md5_hash_password

from flowmatik.versioned_cache import (
    Lookup,
    versioned_invalidate,
    versioned_keys,
    versioned_lookup,
    versioned_set,
)

API_KEY_PREFIX = "fmk_"

CredentialKind = Literal["jwt", "api_key", ""]


def api_key_hash(raw_key: str) -> str:
    """Keys are high-entropy random strings, so a plain SHA-256 is the right hash."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


def password_fingerprint(password_hash: str) -> str:
    """What a JWT carries of its user's password hash (simplejwt's revoke claim):
    a token minted before a password change no longer matches."""
    return get_md5_hash_password(password_hash)


def bearer_kind(token: str) -> CredentialKind:
    """An `fmk_...` token is an API key; anything else is taken for a JWT."""
    if not token:
        return ""
    return "api_key" if token.startswith(API_KEY_PREFIX) else "jwt"


def credentials_from_headers(headers: Mapping[str, str]) -> tuple[CredentialKind, str]:
    """(kind, token) from `X-API-Key` or `Authorization: Bearer ...`; ("", "") if
    neither is there. `X-API-Key` only ever carries an API key."""
    api_key = headers.get("X-API-Key", "")
    if api_key:
        return "api_key", api_key.strip()
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return "", ""
    token = token.strip()
    return bearer_kind(token), token


def user_cache_key(user_id: int) -> str:
    return f"identity:user:{user_id}"


def api_key_cache_key(hashed_key: str) -> str:
    return f"identity:key:{hashed_key}"


def access_denied_cache_key(jti: str) -> str:
    """Where a logged-out access token's id is kept until the token expires."""
    return f"identity:jwt-denied:{jti}"


def identity_cache_keys(key: str, *also: str) -> list[str]:
    """What one read of the identity cache fetches: `key`'s versioned entry and the
    plain keys `also` (callers read them in one round trip, sync or async)."""
    return [*versioned_keys(key), *also]


def identity_cache_read(key: str, *also: str) -> tuple[Lookup, list[Any]]:
    """The versioned entry under `key` and the plain values of `also` (None where
    missing), in one round trip. Pass the lookup to `identity_cache_write`."""
    found = cache.get_many(identity_cache_keys(key, *also))
    return versioned_lookup(key, found), [found.get(extra) for extra in also]


def identity_cache_write(lookup: Lookup, value: Any) -> None:
    """Cache a resolved entry (False for "no such live user/key") briefly, under
    the version read before the database was: a racing invalidation wins."""
    versioned_set(lookup, value, settings.IDENTITY_CACHE_SECONDS)


def identity_cache_invalidate(
    *, user_id: int | None = None, hashed_key: str = ""
) -> None:
    """Forget a user's and/or a key's cached entry (revocation, deactivation...)."""
    keys = [user_cache_key(user_id)] if user_id is not None else []
    if hashed_key:
        keys.append(api_key_cache_key(hashed_key))
    versioned_invalidate(*keys)
