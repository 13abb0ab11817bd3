"""Who is calling: ONE check for a JWT access token and ONE for an API key.

Every caller goes through these two checks: DRF authentication (`identify` via
`credential_check`), the async AI views and the WebSocket middleware (`aidentify`,
`aidentity_from_bearer`) and the MCP server (`aidentity_from_bearer`).

Each check is written once, as a generator: it does the cache reads itself and
*yields* its I/O, receiving the result back: a `CacheRead` (keys to read in one
round trip) or the database work a cache miss needs (a plain callable).
`credential_check` runs both inline; `acredential_check` reads the cache with the
asyncio Redis client (`flowmatik.acache`) and runs database work in a worker thread,
so on the event loop a cached caller costs no blocking call, no thread hop and no
query. An API key's `Identity` carries the owner's plan, read on the way.
Resolved entries are cached for `IDENTITY_CACHE_SECONDS`; revoking a key,
deactivating a user or changing a password invalidates them (after commit); entries
are versioned (`flowmatik.versioned_cache`), so a check that read the database before
such a change committed cannot cache the old state after it. A key's
`last_used_at` is written at most once per `API_KEY_LAST_USED_INTERVAL_SECONDS`.
"""

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.credentials import (
    API_KEY_PREFIX,
    CredentialKind,
    access_denied_cache_key,
    api_key_cache_key,
    api_key_hash,
    bearer_kind,
    credentials_from_headers,
    identity_cache_keys,
    identity_cache_write,
    password_fingerprint,
    user_cache_key,
)
from accounts.models import ApiKey, User
from accounts.services.api_keys import (
    API_FEATURE,
    api_key_last_used_claim,
    api_key_last_used_claimed_here,
    api_key_last_used_write,
)
from billing import selectors as billing_selectors
from billing.selectors import PlanInfo
from flowmatik.acache import acache_get_many, acache_read_ahead_user
from flowmatik.db_threads import in_worker_thread
from flowmatik.versioned_cache import Lookup, versioned_hit, versioned_miss_prepare

__all__ = [
    "API_KEY_PREFIX",
    "Identity",
    "Refusal",
    "acredential_check",
    "aidentify",
    "aidentity_from_bearer",
    "credential_check",
    "credentials_from_headers",
    "identify",
    "identity_from_api_key",
]


@dataclass(frozen=True)
class Identity:
    user_id: int
    email: str
    is_staff: bool
    api_key_id: int | None = None
    # An API key's check reads its owner's plan anyway: callers reuse it.
    plan: PlanInfo | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Refusal:
    """Why a credential was refused: a stable `reason` code and a sentence."""

    reason: str
    message: str


INVALID_API_KEY = Refusal("invalid_api_key", "Invalid, revoked or expired API key.")


@dataclass(frozen=True)
class CacheRead:
    """I/O a check yields: read these cache keys (one round trip); gets the found
    values (`cache.get_many`'s result) sent back."""

    keys: tuple[str, ...]


# A check yields a cache read or database work (a callable) and gets its result.
_Check = Generator["CacheRead | Callable[[], Any]", Any, Identity | Refusal]


def _cached(key: str, *also: str) -> Generator[Any, Any, tuple[Lookup, list[Any]]]:
    """`identity_cache_read` as check I/O: the lookup of `key` and the values of
    `also`. A missing version token is created by the database work of the miss
    (`versioned_miss_prepare`), so the read itself writes nothing."""
    found = yield CacheRead(tuple(identity_cache_keys(key, *also)))
    lookup = versioned_hit(key, found) or Lookup(key=key, token=None)
    return lookup, [found.get(extra) for extra in also]


_UserEntry = tuple[Identity, str]  # identity, password fingerprint
_KeyEntry = tuple[int, int, str, bool, Any]  # id, user id, email, staff, expiry


# --- The JWT check ---


def _user_entry_load(user_id: int, lookup: Lookup) -> _UserEntry | bool:
    """An active user's (identity, password fingerprint) from the database (False:
    none), cached."""
    lookup = versioned_miss_prepare(lookup)
    user = (
        User.objects.filter(pk=user_id, is_active=True)
        .only("email", "is_staff", "password")
        .first()
    )
    entry: _UserEntry | bool = (
        (
            Identity(user.pk, user.email, user.is_staff),
            password_fingerprint(user.password),
        )
        if user
        else False
    )
    identity_cache_write(lookup, entry)
    return entry


def _jwt_check(token: str) -> _Check:
    """A valid, not logged-out access token of an active user whose password has
    not changed since it was minted (simplejwt's `CHECK_REVOKE_TOKEN` claim)."""
    try:
        access = AccessToken(token)
    except TokenError as exc:
        return Refusal("token_not_valid", str(exc))
    try:
        user_id = int(access[settings.SIMPLE_JWT["USER_ID_CLAIM"]])
    except (KeyError, TypeError, ValueError):
        return Refusal(
            "token_not_valid", "Token contained no recognizable user identification."
        )
    lookup, (denied,) = yield from _cached(
        user_cache_key(user_id), access_denied_cache_key(str(access.get("jti", "")))
    )
    if denied:
        return Refusal("token_revoked", "The token was revoked by a log-out.")
    if lookup.hit:
        entry = lookup.value
    else:
        entry = yield partial(_user_entry_load, user_id, lookup)
    if not entry:
        return Refusal("user_inactive", "User is inactive or does not exist.")
    identity, fingerprint = entry
    if settings.SIMPLE_JWT.get("CHECK_REVOKE_TOKEN"):
        claim = settings.SIMPLE_JWT.get("REVOKE_TOKEN_CLAIM", "hash_password")
        if access.get(claim) != fingerprint:
            return Refusal("password_changed", "The user's password has been changed.")
    return identity


# --- The API-key check ---


def _api_key_load(hashed: str, lookup: Lookup) -> _KeyEntry | bool:
    """The key's entry from the database (False: no live key), cached."""
    lookup = versioned_miss_prepare(lookup)
    api_key = (
        ApiKey.objects.select_related("user")
        .filter(hashed_key=hashed, revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    entry: _KeyEntry | bool = (
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
    identity_cache_write(lookup, entry)
    return entry


# Per process: the owner of each API key (by hash) seen live here. A key never
# changes owner; this only foresees whose plan a call reads (the key's own entry
# still decides), so the owner's keys join the key's read (`acache_read_ahead_user`).
_key_owners: dict[str, int] = {}
_KEY_OWNERS_MAX = 10_000


def _read_ahead_owner(user_id: int) -> None:
    """What the call reads of its owner, the plan with the rest, joins the next read."""
    acache_read_ahead_user(
        user_id, also=billing_selectors.plan_info_cache_keys(user_id=user_id)
    )


def _api_key_check(raw_key: str) -> _Check:
    """A live (not revoked, not expired) key of an active user whose plan still
    includes API access (a downgraded owner's keys stop working)."""
    if not raw_key.startswith(API_KEY_PREFIX):
        return INVALID_API_KEY
    hashed = api_key_hash(raw_key)
    foreseen = _key_owners.get(hashed)
    if foreseen is not None:
        _read_ahead_owner(foreseen)
    lookup, _ = yield from _cached(api_key_cache_key(hashed))
    if lookup.hit:
        entry = lookup.value
    else:
        entry = yield partial(_api_key_load, hashed, lookup)
    if not entry:
        return INVALID_API_KEY
    key_id, user_id, email, is_staff, expires_at = entry
    if expires_at is not None and expires_at <= timezone.now():
        return INVALID_API_KEY
    if foreseen != user_id:
        if len(_key_owners) >= _KEY_OWNERS_MAX:
            _key_owners.clear()
        _key_owners[hashed] = user_id
    _read_ahead_owner(user_id)  # nothing new when foreseen
    found = yield CacheRead(
        tuple(billing_selectors.plan_info_cache_keys(user_id=user_id))
    )
    plan = billing_selectors.plan_info_from_cache(user_id=user_id, found=found)
    if plan is None:
        plan = yield partial(billing_selectors.plan_info_for_user_id, user_id=user_id)
    if API_FEATURE not in plan.features:
        return INVALID_API_KEY
    now = timezone.now()
    if api_key_last_used_claimed_here(hashed, now):
        pass  # this process already knows who writes in this interval
    elif (yield partial(api_key_last_used_claim, api_key_id=key_id, now=now)):
        yield partial(api_key_last_used_write, api_key_id=key_id, now=now)
    return Identity(user_id, email, is_staff, api_key_id=key_id, plan=plan)


# --- Running a check: inline (sync) or with database work in a thread (async) ---


def _check_for(kind: CredentialKind, token: str) -> _Check | None:
    if kind == "jwt":
        return _jwt_check(token)
    if kind == "api_key":
        return _api_key_check(token)
    return None


NO_CREDENTIALS = Refusal("not_authenticated", "No credentials were provided.")


def credential_check(kind: CredentialKind, token: str) -> Identity | Refusal:
    """The caller's identity, or why the credential is refused (database inline)."""
    check = _check_for(kind, token)
    if check is None:
        return NO_CREDENTIALS
    try:
        work = next(check)
        while True:
            if isinstance(work, CacheRead):
                work = check.send(cache.get_many(work.keys))
            else:
                work = check.send(work())
    except StopIteration as done:
        return done.value


async def acredential_check(kind: CredentialKind, token: str) -> Identity | Refusal:
    """`credential_check` for the event loop: the same check, with the database work
    a cache miss needs run in a worker thread."""
    check = _check_for(kind, token)
    if check is None:
        return NO_CREDENTIALS
    try:
        work = next(check)
        while True:
            if isinstance(work, CacheRead):
                result = await acache_get_many(work.keys)
            else:
                result = await in_worker_thread(work)()
            work = check.send(result)
    except StopIteration as done:
        return done.value


def identify(kind: CredentialKind, token: str) -> Identity | None:
    result = credential_check(kind, token)
    return result if isinstance(result, Identity) else None


async def aidentify(kind: CredentialKind, token: str) -> Identity | None:
    result = await acredential_check(kind, token)
    return result if isinstance(result, Identity) else None


def identity_from_api_key(raw_key: str) -> Identity | None:
    """The owner's identity for a live API key of a plan with API access, else None."""
    return identify("api_key", raw_key)


async def aidentity_from_bearer(token: str) -> Identity | None:
    """The identity for a bearer token: an `fmk_...` API key or a JWT access token."""
    return await aidentify(bearer_kind(token), token)
