"""Cache entries that an invalidation can never let come back stale (versioned keys).

The race this closes: a reader misses the cache, reads the database, and stores what
it read. If a writer commits and invalidates in between (a plan upgrade processed by
the worker, a key revoked, a password changed), a plain delete-then-set lets the
reader put the old row back for the entry's whole TTL.

Here every entry has a version token of its own (a random string under `<key>:v`).
A reader takes the token *before* it reads the database and stores
`(token, value)`; an invalidation replaces the token once the writer has committed.
Whatever a racing reader stores then carries the old token and is never served. A
lost token (evicted, expired) only costs a miss: a fresh random token never matches
an old entry. A hit is one cache round trip: the token and the entry are read
together (`get_many`), so callers may batch them with keys of their own; async
callers read them with `flowmatik.acache.acache_get_many` and interpret the result
with `versioned_hit` (no cache write on the event loop); on a miss, the database
work starts with `versioned_miss_prepare`.

    lookup = versioned_get(key)            # or versioned_lookup(key, found)
    if lookup.hit:
        return lookup.value
    value = <read the database>
    versioned_set(lookup, value, timeout)

    versioned_invalidate_on_commit(key)    # in the service that wrote
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

_MISSING = object()


@dataclass(frozen=True)
class Lookup:
    """What a read found: the entry's key, the token read first, maybe a value."""

    key: str
    token: str | None  # None: no token could be read, so nothing may be stored
    value: Any = _MISSING

    @property
    def hit(self) -> bool:
        return self.value is not _MISSING


def token_key(key: str) -> str:
    return f"{key}:v"


def versioned_keys(key: str) -> list[str]:
    """The cache keys a lookup of `key` reads (for callers that batch reads)."""
    return [key, token_key(key)]


def _new_token() -> str:
    return uuid.uuid4().hex


def _token_ensure(key: str) -> str | None:
    """The current token of `key`, creating one when there is none."""
    fresh = _new_token()
    if cache.add(token_key(key), fresh, settings.CACHE_VERSION_TTL_SECONDS):
        return fresh
    return cache.get(token_key(key))


def versioned_lookup(key: str, found: Mapping[str, Any]) -> Lookup:
    """Interpret a `get_many` result that includes `versioned_keys(key)`."""
    token = found.get(token_key(key))
    if token is None:
        return Lookup(key=key, token=_token_ensure(key))
    entry = found.get(key)
    if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == token:
        return Lookup(key=key, token=token, value=entry[1])
    return Lookup(key=key, token=token)


def versioned_hit(key: str, found: Mapping[str, Any]) -> Lookup | None:
    """`versioned_lookup` without any cache write: None when `found` has no token
    (the caller then needs `versioned_lookup`, off the event loop)."""
    if found.get(token_key(key)) is None:
        return None
    return versioned_lookup(key, found)


def versioned_miss_prepare(lookup: Lookup) -> Lookup:
    """Before reading the database on a miss: the lookup with a version token
    (created now when `versioned_hit` found none), so the result can be stored."""
    if lookup.token is not None:
        return lookup
    return Lookup(key=lookup.key, token=_token_ensure(lookup.key))


def versioned_get(key: str) -> Lookup:
    """Read `key`'s token and entry in one round trip."""
    return versioned_lookup(key, cache.get_many(versioned_keys(key)))


def versioned_set(lookup: Lookup, value: Any, timeout: float | None) -> None:
    """Store `value` under the token read before the database was (no-op without)."""
    if lookup.token is not None:
        cache.set(lookup.key, (lookup.token, value), timeout)


def versioned_invalidate(*keys: str) -> None:
    """Give each key a new token: every entry stored so far is no longer served."""
    if keys:
        cache.set_many(
            {token_key(key): _new_token() for key in keys},
            settings.CACHE_VERSION_TTL_SECONDS,
        )


def versioned_invalidate_on_commit(*keys: str) -> None:
    """Invalidate now and again once the surrounding transaction commits.

    The after-commit invalidation is the one that makes readers see the new rows;
    the immediate one keeps code that runs inside an uncommitted transaction (and
    tests that never commit) from serving what it has just changed.
    """
    versioned_invalidate(*keys)
    transaction.on_commit(lambda: versioned_invalidate(*keys))
