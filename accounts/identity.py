"""Who is calling: resolve a JWT access token or an API key to an `Identity`, fast.

This is the AI hot path's authentication (async views, WebSocket consumers): results
are cached briefly so a request normally costs no database query. Revoking a key,
deactivating a user or changing a password calls `identity_cache_invalidate` (after
commit) so the cache never outlives them. A key's `last_used_at` is written at most
once per `API_KEY_LAST_USED_INTERVAL_SECONDS`.
"""

import hashlib
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from accounts.models import ApiKey, User
from billing import selectors as billing_selectors

API_KEY_PREFIX = "fmk_"
API_FEATURE = "api"
IDENTITY_CACHE_SECONDS = getattr(settings, "IDENTITY_CACHE_SECONDS", 30)


@dataclass(frozen=True)
class Identity:
    user_id: int
    email: str
    is_staff: bool
    api_key_id: int | None = None


def api_key_hash(raw_key: str) -> str:
    """Keys are high-entropy random strings, so a plain SHA-256 is the right hash."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


def _user_cache_key(user_id: int) -> str:
    return f"identity:user:{user_id}"


def _key_cache_key(hashed: str) -> str:
    return f"identity:key:{hashed}"


def identity_cache_invalidate(
    *, user_id: int | None = None, hashed_key: str = ""
) -> None:
    if user_id is not None:
        cache.delete(_user_cache_key(user_id))
    if hashed_key:
        cache.delete(_key_cache_key(hashed_key))


def access_denied_cache_key(jti: str) -> str:
    """Where a logged-out access token's id is kept until the token expires."""
    return f"identity:jwt-denied:{jti}"


def _user_entry(user_id: int, *, cached: object = None) -> tuple[Identity, str] | None:
    """(identity, password fingerprint) of an active user, cached; None otherwise."""
    key = _user_cache_key(user_id)
    if cached is None:
        cached = cache.get(key)
    if cached is not None:
        return cached or None
    user = (
        User.objects.filter(pk=user_id, is_active=True)
        .only("email", "is_staff", "password")
        .first()
    )
    entry = (
        (Identity(user.pk, user.email, user.is_staff), _fingerprint(user.password))
        if user
        else None
    )
    cache.set(key, entry or False, IDENTITY_CACHE_SECONDS)
    return entry


def _fingerprint(password_hash: str) -> str:
    return get_md5_hash_password(password_hash)


def _identity_for_user_id(user_id: int) -> Identity | None:
    entry = _user_entry(user_id)
    return entry[0] if entry else None


def _jwt_parse(token: str) -> tuple[AccessToken, int] | None:
    """A valid access token and its user id (no I/O), else None."""
    try:
        access = AccessToken(token)
    except TokenError:
        return None
    user_id = access.get(settings.SIMPLE_JWT["USER_ID_CLAIM"])
    try:
        return access, int(user_id)
    except (TypeError, ValueError):
        return None


def _jwt_cache_lookup(access: AccessToken, user_id: int) -> tuple[bool, object]:
    """(denied, cached user entry or None) in one cache round trip."""
    denied_key = access_denied_cache_key(str(access.get("jti", "")))
    found = cache.get_many([_user_cache_key(user_id), denied_key])
    return bool(found.get(denied_key)), found.get(_user_cache_key(user_id))


def _jwt_identity(
    access: AccessToken, entry: tuple[Identity, str] | None
) -> Identity | None:
    if entry is None:
        return None
    identity, fingerprint = entry
    if settings.SIMPLE_JWT.get("CHECK_REVOKE_TOKEN"):
        claim = settings.SIMPLE_JWT.get("REVOKE_TOKEN_CLAIM", "hash_password")
        if access.get(claim) != fingerprint:
            return None
    return identity


def identity_from_jwt(token: str) -> Identity | None:
    """An active user's identity from a valid access token, else None.

    A token minted before the user's last password change is refused: it carries
    the fingerprint of the old password hash (simplejwt's `CHECK_REVOKE_TOKEN`).
    """
    parsed = _jwt_parse(token)
    if parsed is None:
        return None
    access, user_id = parsed
    denied, cached = _jwt_cache_lookup(access, user_id)
    if denied:
        return None
    return _jwt_identity(access, _user_entry(user_id, cached=cached))


_KeyEntry = tuple[int, int, str, bool, object]  # id, user id, email, staff, expiry


def _api_key_load(hashed: str) -> "_KeyEntry | bool":
    """The key's cache entry from the database (False: no live key); cached."""
    api_key = (
        ApiKey.objects.select_related("user")
        .filter(hashed_key=hashed, revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    entry = (
        (
            api_key.pk,
            api_key.user_id,
            api_key.user.email,
            api_key.user.is_staff,
            api_key.expires_at,
        )
        if api_key
        else False
    )
    cache.set(_key_cache_key(hashed), entry, IDENTITY_CACHE_SECONDS)
    return entry


def _api_key_usable(entry: "_KeyEntry | bool") -> "_KeyEntry | None":
    """The entry if it names an unexpired key (the plan is checked separately)."""
    if not entry:
        return None
    expires_at = entry[4]
    if expires_at is not None and expires_at <= timezone.now():
        return None
    return entry


def _has_api_feature(plan) -> bool:
    # API access is a plan feature: a downgraded owner's keys stop working (cached).
    return API_FEATURE in plan.features


def identity_from_api_key(raw_key: str) -> Identity | None:
    """The owner's identity for a live (not revoked, not expired) API key, else None."""
    if not raw_key.startswith(API_KEY_PREFIX):
        return None
    hashed = api_key_hash(raw_key)
    cached = cache.get(_key_cache_key(hashed))
    entry = _api_key_usable(_api_key_load(hashed) if cached is None else cached)
    if entry is None:
        return None
    key_id, user_id, email, is_staff, _ = entry
    if not _has_api_feature(billing_selectors.plan_info_for_user_id(user_id=user_id)):
        return None
    from accounts.services import api_key_mark_used

    api_key_mark_used(api_key_id=key_id)
    return Identity(user_id, email, is_staff, api_key_id=key_id)


def credentials_from_headers(headers) -> tuple[str, str]:
    """('jwt'|'api_key'|'', token) from `Authorization: Bearer ...` or `X-API-Key`."""
    api_key = headers.get("X-API-Key", "")
    if api_key:
        return "api_key", api_key.strip()
    auth = headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return "", ""
    token = token.strip()
    return ("api_key" if token.startswith(API_KEY_PREFIX) else "jwt"), token


def identify(kind: str, token: str) -> Identity | None:
    if kind == "api_key":
        return identity_from_api_key(token)
    if kind == "jwt":
        return identity_from_jwt(token)
    return None


def _in_thread(func):
    return sync_to_async(func, thread_sensitive=False)


async def aidentify(kind: str, token: str) -> Identity | None:
    """Async `identify`: answers from the cache without a thread hop when it can.

    Cache reads run on the event loop (locmem and Redis gets are quick); only the
    database work a cache miss needs (and the throttled `last_used_at` write) goes
    to a worker thread. Same answers as `identify`.
    """
    if kind == "jwt":
        return await _aidentity_from_jwt(token)
    if kind == "api_key":
        return await _aidentity_from_api_key(token)
    return None


async def _aidentity_from_jwt(token: str) -> Identity | None:
    parsed = _jwt_parse(token)
    if parsed is None:
        return None
    access, user_id = parsed
    denied, cached = _jwt_cache_lookup(access, user_id)
    if denied:
        return None
    if cached is None:
        entry = await _in_thread(_user_entry)(user_id)
    else:
        entry = cached or None
    return _jwt_identity(access, entry)


async def _aidentity_from_api_key(raw_key: str) -> Identity | None:
    from accounts.services.api_keys import (
        api_key_last_used_claim,
        api_key_last_used_write,
    )

    if not raw_key.startswith(API_KEY_PREFIX):
        return None
    hashed = api_key_hash(raw_key)
    cached = cache.get(_key_cache_key(hashed))
    if cached is None:
        cached = await _in_thread(_api_key_load)(hashed)
    entry = _api_key_usable(cached)
    if entry is None:
        return None
    key_id, user_id, email, is_staff, _ = entry
    plan = billing_selectors.plan_info_cached(user_id=user_id)
    if plan is None:
        plan = await _in_thread(billing_selectors.plan_info_for_user_id)(
            user_id=user_id
        )
    if not _has_api_feature(plan):
        return None
    now = timezone.now()
    if api_key_last_used_claim(api_key_id=key_id, now=now):
        await _in_thread(api_key_last_used_write)(api_key_id=key_id, now=now)
    return Identity(user_id, email, is_staff, api_key_id=key_id)
