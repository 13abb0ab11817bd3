"""The identity seam (JWT / API key), roles, permission classes, startup check."""

import ast
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.test import override_settings
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from accounts.checks import jwt_rotation_errors
from accounts.credentials import credentials_from_headers
from accounts.identity import aidentity_from_bearer
from accounts.permissions import HasPlanFeature, IsAdmin, IsPremium
from accounts.selectors import user_role
from accounts.services import user_deactivate
from accounts.tests.conftest import bearer, jwt_login
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)
def test_one_jwt_check_answers_drf_views_and_async_callers_alike(api_client, user):
    pair = jwt_login(api_client, user.email)
    me = bearer(pair["access"]).get("/api/auth/me")
    assert me.status_code == 200
    assert me.json()["user"]["id"] == user.pk
    identity = async_to_sync(aidentity_from_bearer)(pair["access"])
    assert (identity.user_id, identity.email, identity.api_key_id) == (
        user.pk,
        user.email,
        None,
    )
    for refused in (pair["refresh"], "not.a.jwt"):  # wrong token type, garbage
        assert bearer(refused).get("/api/auth/me").status_code == 401
        assert async_to_sync(aidentity_from_bearer)(refused) is None


@pytest.mark.django_db(transaction=True)
def test_deactivation_stops_a_cached_jwt_everywhere_and_its_refresh(api_client, user):
    pair = jwt_login(api_client, user.email)
    assert bearer(pair["access"]).get("/api/auth/me").status_code == 200  # cached
    user_deactivate(user=user)
    assert bearer(pair["access"]).get("/api/auth/me").status_code == 401
    assert async_to_sync(aidentity_from_bearer)(pair["access"]) is None
    refresh = api_client.post(
        "/api/auth/refresh", {"refresh": pair["refresh"]}, format="json"
    )
    assert refresh.status_code == 401


def test_credentials_from_headers_tells_keys_from_jwts():
    assert credentials_from_headers({"Authorization": "Bearer fmk_a_b"}) == (
        "api_key",
        "fmk_a_b",
    )
    assert credentials_from_headers({"X-API-Key": " fmk_x "}) == ("api_key", "fmk_x")
    assert credentials_from_headers({"Authorization": "Bearer ey.j"}) == ("jwt", "ey.j")
    assert credentials_from_headers({"Authorization": "Basic abc"}) == ("", "")


def test_user_role_follows_staff_and_billing(paid_users):
    plain, paid, staff = UserFactory(), UserFactory(), UserFactory(is_staff=True)
    paid_users.add(paid.pk)
    assert [user_role(user=u) for u in (plain, paid, staff)] == [
        "user",
        "premium",
        "admin",
    ]


class _AdminView(APIView):
    permission_classes = [IsAuthenticated, IsAdmin]

    def get(self, request):
        return Response({"ok": True})


class _PremiumView(_AdminView):
    permission_classes = [IsAuthenticated, IsPremium]


class _ImagesView(_AdminView):
    permission_classes = [IsAuthenticated, HasPlanFeature("images")]


def _call(view, user=None):
    request = APIRequestFactory().get("/x")
    if user is not None:
        force_authenticate(request, user=user)
    return view.as_view()(request)


@pytest.mark.parametrize(
    ("view", "code"),
    [
        (_AdminView, "admin_required"),
        (_PremiumView, "premium_required"),
        (_ImagesView, "plan_feature_required"),
    ],
)
def test_permission_classes_refuse_with_stable_codes(paid_users, view, code):
    assert _call(view).status_code == 401
    response = _call(view, UserFactory())
    assert response.status_code == 403
    assert response.data["error"]["code"] == code


def test_permission_classes_admit_the_right_users(paid_users):
    paid, staff = UserFactory(), UserFactory(is_staff=True)
    paid_users.add(paid.pk)
    assert _call(_AdminView, staff).status_code == 200
    assert _call(_AdminView, paid).status_code == 403
    assert _call(_PremiumView, paid).status_code == 200
    assert _call(_PremiumView, staff).status_code == 200
    assert _call(_ImagesView, paid).status_code == 200
    assert HasPlanFeature("video")().feature == "video"


def test_rotation_check_passes_with_the_blacklist_app():
    assert jwt_rotation_errors() == []


def test_rotation_check_fails_without_blacklisting(settings):
    settings_jwt = {**settings.SIMPLE_JWT, "BLACKLIST_AFTER_ROTATION": False}
    with override_settings(SIMPLE_JWT=settings_jwt):
        assert [e.id for e in jwt_rotation_errors()] == ["accounts.E002"]


def test_rotation_check_reports_missing_blacklist_app(monkeypatch, settings):
    from accounts import checks

    class _Settings:
        SIMPLE_JWT = settings.SIMPLE_JWT
        INSTALLED_APPS = [
            a for a in settings.INSTALLED_APPS if not a.endswith("token_blacklist")
        ]

    monkeypatch.setattr(checks, "settings", _Settings)
    assert [e.id for e in checks.jwt_rotation_errors()] == ["accounts.E001"]


def test_startup_refuses_rotation_without_blacklist(monkeypatch, settings):
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured

    from accounts import checks

    class _Settings:
        SIMPLE_JWT = settings.SIMPLE_JWT
        INSTALLED_APPS = ["accounts"]

    monkeypatch.setattr(checks, "settings", _Settings)
    with pytest.raises(ImproperlyConfigured, match="accounts.E001"):
        apps.get_app_config("accounts").ready()


def _first_party_imports(path: Path) -> set[str]:
    first_party = {"accounts", "ai", "billing", "dashboard", "flowmatik"}
    first_party |= {"notifications", "usage", "webhooks_app"}
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return {name for name in names if name.split(".")[0] in first_party}


def test_credential_helpers_import_nothing_of_ours_and_services_not_identity():
    """No accounts.identity <-> accounts.services cycle: services reach the hashing
    and cache helpers without the identity check."""
    accounts_dir = Path(__file__).resolve().parents[1]
    # Only the versioned cache, a leaf module that imports nothing of ours either.
    assert _first_party_imports(accounts_dir / "credentials.py") == {
        "flowmatik.versioned_cache"
    }
    versioned_cache = accounts_dir.parent / "flowmatik" / "versioned_cache.py"
    assert _first_party_imports(versioned_cache) == set()
    for module in sorted((accounts_dir / "services").glob("*.py")):
        assert "accounts.identity" not in _first_party_imports(module), module.name
