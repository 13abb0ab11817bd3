"""Django admin for users and keys; the OpenAPI schema lists every endpoint."""

import pytest
from django.test import Client

from accounts.identity import identity_from_api_key
from accounts.models import ApiKey, User
from accounts.services import api_key_create
from accounts.tests.factories import UserFactory
from accounts.tests.openapi import response_errors, schema_document

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_user_admin_searches_by_email_and_filters_by_role(admin_client):
    from billing.tests.factories import subscription_row

    alice = UserFactory(email="alice@example.com")
    paid = UserFactory(email="paid@example.com")
    subscription_row(user=paid, plan="starter")
    found = admin_client.get("/admin/accounts/user/", {"q": "alice@"})
    assert found.status_code == 200
    assert b"alice@example.com" in found.content
    assert b"paid@example.com" not in found.content
    premium = admin_client.get("/admin/accounts/user/", {"role": "premium"})
    assert b"paid@example.com" in premium.content
    assert b"alice@example.com" not in premium.content
    admins = admin_client.get("/admin/accounts/user/", {"role": "admin"})
    assert b"alice@example.com" not in admins.content
    assert alice.pk


def test_user_admin_action_deactivates_users(admin_client):
    target = UserFactory()
    response = admin_client.post(
        "/admin/accounts/user/",
        {"action": "deactivate_users", "_selected_action": [target.pk]},
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.is_active is False


def test_key_admin_action_revokes_keys(admin_client, paid_users):
    owner = UserFactory()
    paid_users.add(owner.pk)
    created = api_key_create(user=owner, name="k")
    assert identity_from_api_key(created.raw_key) is not None
    listing = admin_client.get("/admin/accounts/apikey/", {"q": owner.email})
    assert listing.status_code == 200
    assert created.api_key.prefix.encode() in listing.content
    response = admin_client.post(
        "/admin/accounts/apikey/",
        {"action": "revoke_keys", "_selected_action": [created.api_key.pk]},
    )
    assert response.status_code == 302
    assert ApiKey.objects.get(pk=created.api_key.pk).revoked_at is not None
    assert identity_from_api_key(created.raw_key) is None


def test_schema_lists_every_auth_endpoint(admin_client):
    response = admin_client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {
        "/api/auth/register": {"post"},
        "/api/auth/login": {"post"},
        "/api/auth/refresh": {"post"},
        "/api/auth/logout": {"post"},
        "/api/auth/me": {"get"},
        "/api/auth/profile": {"put", "patch"},
        "/api/auth/change-password": {"post"},
        "/api/auth/forgot-password": {"post"},
        "/api/auth/reset-password": {"post"},
        "/api/auth/api-keys": {"get", "post"},
        "/api/auth/api-keys/{api_key_id}": {"delete"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    assert User.objects.count() >= 1


def test_admin_add_and_change_pages_work(admin_client):
    assert admin_client.get("/admin/accounts/user/add/").status_code == 200
    response = admin_client.post(
        "/admin/accounts/user/add/",
        {
            "email": "New.Staffer@Example.com",
            "password1": "lantern-orchard-quietly-88",
            "password2": "lantern-orchard-quietly-88",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    created = User.objects.get(email="new.staffer@example.com")
    assert created.check_password("lantern-orchard-quietly-88")
    page = admin_client.get(f"/admin/accounts/user/{created.pk}/change/")
    assert page.status_code == 200
    assert admin_client.get("/admin/accounts/apikey/").status_code == 200


def test_admin_change_form_deactivation_revokes_access(admin_client, paid_users):
    from accounts.identity import identity_from_api_key

    target = UserFactory()
    paid_users.add(target.pk)
    raw = api_key_create(user=target, name="k").raw_key
    assert identity_from_api_key(raw) is not None
    page = admin_client.get(f"/admin/accounts/user/{target.pk}/change/")
    form = page.context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name not in ("password", "groups", "last_login")
    }
    data.update(
        {
            "is_active": "",
            "date_joined_0": target.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": target.date_joined.strftime("%H:%M:%S"),
        }
    )
    data.pop("date_joined", None)
    data.pop("is_active")
    response = admin_client.post(f"/admin/accounts/user/{target.pk}/change/", data)
    assert response.status_code == 302, response.content[:3000]
    target.refresh_from_db()
    assert target.is_active is False
    assert identity_from_api_key(raw) is None


def admin_change_data(admin_client, target, **changes) -> dict:
    """The admin change form of `target` as the page fills it, with `changes`
    (a value of None unticks a checkbox)."""
    page = admin_client.get(f"/admin/accounts/user/{target.pk}/change/")
    form = page.context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None
        and name not in ("password", "groups", "last_login", "date_joined")
    }
    data["date_joined_0"] = target.date_joined.strftime("%Y-%m-%d")
    data["date_joined_1"] = target.date_joined.strftime("%H:%M:%S")
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def test_a_brand_voice_edited_in_the_admin_reaches_the_next_prompt(admin_client):
    from ai.context import profile_context

    target = UserFactory(brand_voice="Formal.")
    assert "Formal." in profile_context(target.pk)  # cached from now on
    data = admin_change_data(admin_client, target, brand_voice="Playful and warm.")
    response = admin_client.post(f"/admin/accounts/user/{target.pk}/change/", data)
    assert response.status_code == 302, response.content[:3000]
    assert "Playful and warm." in profile_context(target.pk)


def test_api_key_list_response_matches_its_documented_paginated_schema(
    auth_client, user, paid_users
):
    paid_users.add(user.pk)
    api_key_create(user=user, name="ci")
    document = schema_document(auth_client)
    response = auth_client.get("/api/auth/api-keys", {"page": 1, "page_size": 5})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert response_errors(document, "/api/auth/api-keys", "get", 200, body) == []
    operation = document["paths"]["/api/auth/api-keys"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"page", "page_size"}


def test_blank_avatar_url_matches_the_documented_user_schema(auth_client, user):
    assert user.avatar_url == ""
    document = schema_document(auth_client)
    me = auth_client.get("/api/auth/me")
    assert me.status_code == 200
    assert me.json()["user"]["avatar_url"] == ""
    assert response_errors(document, "/api/auth/me", "get", 200, me.json()) == []
    patched = auth_client.patch("/api/auth/profile", {"bio": "x"}, format="json")
    assert patched.status_code == 200
    assert patched.json()["avatar_url"] == ""
    body = patched.json()
    assert response_errors(document, "/api/auth/profile", "patch", 200, body) == []
    # A real URL still conforms, and a non-URL is still refused on input.
    url = {"avatar_url": "https://example.com/a.png"}
    patched = auth_client.patch("/api/auth/profile", url, format="json")
    body = patched.json()
    assert response_errors(document, "/api/auth/profile", "patch", 200, body) == []
    bad = auth_client.patch("/api/auth/profile", {"avatar_url": "nope"}, format="json")
    assert bad.status_code == 400
