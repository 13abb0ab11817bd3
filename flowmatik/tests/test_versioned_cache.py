"""Versioned cache entries: an invalidation wins over a reader that raced it."""

import pytest
from django.core.cache import cache

from flowmatik.versioned_cache import (
    token_key,
    versioned_get,
    versioned_invalidate,
    versioned_invalidate_on_commit,
    versioned_set,
)


def test_a_stored_value_is_served_until_invalidated():
    lookup = versioned_get("thing:1")
    assert not lookup.hit
    versioned_set(lookup, {"plan": "free"}, 60)

    assert versioned_get("thing:1").value == {"plan": "free"}
    versioned_invalidate("thing:1")
    assert not versioned_get("thing:1").hit


def test_a_read_that_began_before_the_invalidation_cannot_store_stale_data():
    # The reader takes its token, then (slowly) reads the old row...
    before = versioned_get("plan:7")
    # ...meanwhile the writer commits the upgrade and invalidates...
    versioned_invalidate("plan:7")
    # ...then the reader stores what it read: it must never be served.
    versioned_set(before, "free", 300)

    after = versioned_get("plan:7")
    assert not after.hit
    versioned_set(after, "pro", 300)
    assert versioned_get("plan:7").value == "pro"


def test_falsy_values_are_hits():
    lookup = versioned_get("negative:1")
    versioned_set(lookup, False, 60)
    again = versioned_get("negative:1")
    assert again.hit
    assert again.value is False


def test_a_lost_token_only_costs_a_miss():
    lookup = versioned_get("evicted:1")
    versioned_set(lookup, "old", 60)
    cache.delete(token_key("evicted:1"))  # evicted or expired

    assert not versioned_get("evicted:1").hit


def test_invalidating_several_keys_at_once():
    for key in ("a:1", "b:1"):
        versioned_set(versioned_get(key), key, 60)
    versioned_invalidate("a:1", "b:1")
    assert not versioned_get("a:1").hit
    assert not versioned_get("b:1").hit


@pytest.mark.django_db(transaction=True)
def test_invalidation_is_repeated_after_commit():
    from django.db import transaction

    with transaction.atomic():
        versioned_invalidate_on_commit("user:3")
        # a reader inside the transaction window stores what it read
        versioned_set(versioned_get("user:3"), "stale", 60)
        assert versioned_get("user:3").value == "stale"
    assert not versioned_get("user:3").hit
