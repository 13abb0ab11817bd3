"""The identity seam (JWT / API key), roles, permission classes, startup check."""

import pytest
from django.test import override_settings
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from accounts.checks import jwt_rotation_errors
from accounts.identity import (
    credentials_from_headers,
    identify,
    identity_from_jwt,
)
from accounts.permissions import HasPlanFeature, IsAdmin, IsPremium
from accounts.selectors import user_role
from accounts.services import user_deactivate
from accounts.tests.conftest import jwt_login
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_identity_from_jwt_for_valid_token(api_client, user):
    pair = jwt_login(api_client, user.email)
    identity = identity_from_jwt(pair["access"])
    assert (identity.user_id, identity.email, identity.api_key_id) == (
        user.pk,
        user.email,
        None,
    )
    assert identify("jwt", pair["access"]) == identity
    assert identity_from_jwt(pair["refresh"]) is None  # wrong token type
    assert identity_from_jwt("not.a.jwt") is None


def test_deactivation_stops_cached_jwt_identity_and_tokens(api_client, user):
    pair = jwt_login(api_client, user.email)
    assert identity_from_jwt(pair["access"]) is not None  # cached now
    user_deactivate(user=user)
    assert identity_from_jwt(pair["access"]) is None
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
