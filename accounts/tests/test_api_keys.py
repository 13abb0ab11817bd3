"""API keys: plan gate, shown once, stored hashed, owner-only, revoke, expiry, use."""

import asyncio
import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.identity import aidentify, identify, identity_from_api_key
from accounts.models import ApiKey
from accounts.services import api_key_create
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid_user(paid_users):
    user = UserFactory()
    paid_users.add(user.pk)
    return user


@pytest.fixture
def paid_client(paid_user):
    client = APIClient()
    client.force_authenticate(paid_user)
    return client


def _me_with_key(raw_key: str, *, header: str = "bearer"):
    client = APIClient()
    if header == "bearer":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    else:
        client.credentials(HTTP_X_API_KEY=raw_key)
    return client.get("/api/auth/me")


def test_free_plan_cannot_create_keys(auth_client):
    response = auth_client.post("/api/auth/api-keys", {"name": "ci"}, format="json")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "plan_feature_required"
    assert error["details"]["feature"] == "api"
    assert not ApiKey.objects.exists()


def test_created_key_is_shown_once_and_stored_only_hashed(paid_client, paid_user):
    response = paid_client.post("/api/auth/api-keys", {"name": "ci"}, format="json")
    assert response.status_code == 201
    body = response.json()
    raw = body["key"]
    assert raw.startswith("fmk_")
    assert len(raw) > 40
    stored = ApiKey.objects.get(pk=body["id"])
    assert stored.user == paid_user
    assert stored.hashed_key == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in (stored.prefix, stored.hashed_key, stored.name)
    assert raw.startswith(f"fmk_{stored.prefix}_")
    assert body["prefix"] == f"fmk_{stored.prefix}"

    listing = paid_client.get("/api/auth/api-keys")
    assert listing.status_code == 200
    page = listing.json()
    assert page["count"] == 1
    assert page["results"][0]["id"] == body["id"]
    assert page["results"][0]["is_active"] is True
    assert "key" not in page["results"][0]
    assert raw not in listing.content.decode()


def test_key_list_shows_only_my_keys(paid_client, paid_user, paid_users):
    other = UserFactory()
    paid_users.add(other.pk)
    api_key_create(user=other, name="theirs")
    api_key_create(user=paid_user, name="mine")
    names = [k["name"] for k in paid_client.get("/api/auth/api-keys").json()["results"]]
    assert names == ["mine"]


def test_create_key_validates_name_and_expiry(paid_client):
    missing = paid_client.post("/api/auth/api-keys", {}, format="json")
    assert missing.status_code == 400
    past = paid_client.post(
        "/api/auth/api-keys",
        {"name": "old", "expires_at": "2001-01-01T00:00:00Z"},
        format="json",
    )
    assert past.status_code == 400
    assert "expires_at" in past.json()["error"]["details"]["fields"]


@pytest.mark.parametrize("header", ["bearer", "x-api-key"])
def test_key_authenticates_as_its_owner(paid_user, header):
    raw = api_key_create(user=paid_user, name="k").raw_key
    response = _me_with_key(raw, header=header)
    assert response.status_code == 200
    assert response.json()["user"]["id"] == paid_user.pk


def test_unknown_key_is_401(paid_user):
    response = _me_with_key("fmk_deadbeef_not-a-real-key")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_key_is_rejected_at_once(paid_client, paid_user):
    created = api_key_create(user=paid_user, name="k")
    assert _me_with_key(created.raw_key).status_code == 200  # now cached
    response = paid_client.delete(f"/api/auth/api-keys/{created.api_key.pk}")
    assert response.status_code == 204
    created.api_key.refresh_from_db()
    assert created.api_key.revoked_at is not None
    assert _me_with_key(created.raw_key).status_code == 401
    assert identity_from_api_key(created.raw_key) is None
    again = paid_client.delete(f"/api/auth/api-keys/{created.api_key.pk}")
    assert again.status_code == 204


def test_expired_key_is_rejected(paid_user, time_machine):
    time_machine.move_to("2026-03-01T10:00:00Z", tick=False)
    created = api_key_create(
        user=paid_user, name="k", expires_at=timezone.now() + timedelta(hours=1)
    )
    assert _me_with_key(created.raw_key).status_code == 200
    time_machine.move_to("2026-03-01T11:00:01Z", tick=False)
    assert _me_with_key(created.raw_key).status_code == 401
    assert identify("api_key", created.raw_key) is None


def test_another_users_key_is_404_and_stays_live(paid_client, paid_users):
    other = UserFactory()
    paid_users.add(other.pk)
    theirs = api_key_create(user=other, name="theirs")
    response = paid_client.delete(f"/api/auth/api-keys/{theirs.api_key.pk}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    theirs.api_key.refresh_from_db()
    assert theirs.api_key.revoked_at is None
    assert paid_client.delete("/api/auth/api-keys/999999").status_code == 404


def test_key_cannot_manage_keys_or_password(paid_user):
    raw = api_key_create(user=paid_user, name="k").raw_key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/auth/api-keys").status_code == 401
    assert (
        client.post("/api/auth/change-password", {}, format="json").status_code == 401
    )


def test_keys_of_a_downgraded_or_deactivated_owner_stop_working(paid_user, paid_users):
    from accounts.services import user_deactivate
    from billing.selectors import plan_cache_invalidate

    raw = api_key_create(user=paid_user, name="k").raw_key
    assert identity_from_api_key(raw) is not None
    paid_users.discard(paid_user.pk)
    plan_cache_invalidate(user_id=paid_user.pk)
    assert identity_from_api_key(raw) is None
    paid_users.add(paid_user.pk)
    plan_cache_invalidate(user_id=paid_user.pk)
    assert identity_from_api_key(raw) is not None
    user_deactivate(user=paid_user)
    assert identity_from_api_key(raw) is None


def test_last_used_at_is_written_at_most_once_a_minute(
    paid_user, time_machine, django_assert_num_queries
):
    time_machine.move_to("2026-03-01T10:00:00Z", tick=False)
    created = api_key_create(user=paid_user, name="k")
    identity = identity_from_api_key(created.raw_key)
    assert identity.api_key_id == created.api_key.pk
    created.api_key.refresh_from_db()
    first = created.api_key.last_used_at
    assert first == timezone.now()

    time_machine.move_to("2026-03-01T10:00:20Z", tick=False)
    with django_assert_num_queries(0):  # cached identity, no write
        assert identity_from_api_key(created.raw_key) is not None
    created.api_key.refresh_from_db()
    assert created.api_key.last_used_at == first

    time_machine.move_to("2026-03-01T10:01:01Z", tick=False)
    identity_from_api_key(created.raw_key)
    created.api_key.refresh_from_db()
    assert created.api_key.last_used_at > first


@pytest.mark.django_db(transaction=True)
async def test_aidentify_resolves_keys_for_async_callers(paid_user):
    from asgiref.sync import sync_to_async

    raw = (await sync_to_async(api_key_create)(user=paid_user, name="k")).raw_key
    identity = await aidentify("api_key", raw)
    assert identity.user_id == paid_user.pk
    assert await aidentify("api_key", raw + "x") is None


class _CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor, counting the work `sync_to_async` hands it."""

    def __init__(self):
        super().__init__(max_workers=2)
        self.submitted = 0

    def submit(self, *args, **kwargs):
        self.submitted += 1
        return super().submit(*args, **kwargs)


@pytest.fixture
async def counting_executor():
    executor = _CountingExecutor()
    asyncio.get_running_loop().set_default_executor(executor)
    yield executor
    executor.shutdown(wait=True)


@pytest.mark.django_db(transaction=True)
async def test_aidentify_answers_a_cached_api_key_without_a_thread_hop(
    paid_user, counting_executor
):
    raw = (await sync_to_async(api_key_create)(user=paid_user, name="k")).raw_key
    await sync_to_async(cache.clear)()
    counting_executor.submitted = 0
    first = await aidentify("api_key", raw)  # cold: key, plan, last_used_at write
    assert first.user_id == paid_user.pk
    assert counting_executor.submitted >= 1
    counting_executor.submitted = 0
    again = await aidentify("api_key", raw)
    assert again == first
    assert counting_executor.submitted == 0
    assert await aidentify("api_key", raw + "x") is None  # unknown: one lookup
    assert await aidentify("api_key", raw + "x") is None  # now cached as absent
    assert counting_executor.submitted == 1
    last_used = await sync_to_async(
        lambda: ApiKey.objects.get(pk=first.api_key_id).last_used_at
    )()
    assert last_used is not None


@pytest.mark.django_db(transaction=True)
async def test_aidentify_answers_a_cached_jwt_without_a_thread_hop_and_like_identify(
    user, counting_executor
):
    from accounts.services import user_logout
    from accounts.tokens import token_pair_issue

    pair = await sync_to_async(token_pair_issue)(user=user)
    await sync_to_async(cache.clear)()
    counting_executor.submitted = 0
    first = await aidentify("jwt", pair.access)
    assert first.user_id == user.pk
    assert counting_executor.submitted == 1  # the user row, once
    assert await aidentify("jwt", pair.access) == first
    assert await aidentify("jwt", "not-a-token") is None
    assert counting_executor.submitted == 1
    await sync_to_async(user_logout)(refresh=pair.refresh, access=pair.access)
    counting_executor.submitted = 0
    assert await aidentify("jwt", pair.access) is None
    assert await sync_to_async(identify)("jwt", pair.access) is None
    assert counting_executor.submitted == 0


def test_key_list_query_count_does_not_grow_with_keys(
    paid_client, paid_user, django_assert_max_num_queries
):
    api_key_create(user=paid_user, name="first")
    with django_assert_max_num_queries(2) as one:
        assert paid_client.get("/api/auth/api-keys").status_code == 200
    for n in range(10):
        api_key_create(user=paid_user, name=f"k{n}")
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = paid_client.get("/api/auth/api-keys")
    assert response.json()["count"] == 11
