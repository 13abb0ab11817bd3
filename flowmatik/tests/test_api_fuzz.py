"""The whole API fuzzed from its own OpenAPI schema (schemathesis), as three users.


Every operation of `/api/schema/` (including `/v1`) gets a few generated requests
as a Free user (JWT), a Pro user (API key) and staff (JWT). Each answer must not be
a 5xx, must match the schema (status, headers, body), and every 4xx must be the
error envelope `{"error": {"code", "message", "details"}, "request_id"}`.

Bounded: `FUZZ_EXAMPLES` generated cases per operation and user (env, default 2).
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.tests.factories import UserFactory
from billing.tests.factories import subscription_row
from flowmatik.testing.auth import api_key_for, jwt_for
from flowmatik.testing.payments import STRIPE_PRICES
from flowmatik.wsgi import application

pytestmark = [pytest.mark.django_db, pytest.mark.fuzz]

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def identities(settings, fake_stripe) -> dict[str, dict[str, str]]:
    """Each generated request is sent once as each of these (one set-up per
    operation keeps the run short). The Pro user's subscription exists at the
    fake Stripe too, so billing calls reach a real customer."""
    settings.RATELIMIT_ENABLE = False
    pro = UserFactory()
    sub = fake_stripe.add_subscription(price_id=STRIPE_PRICES["pro"], email=pro.email)
    subscription_row(
        user=pro, plan="pro", external_id=sub["id"], customer_id=sub["customer"]
    )
    return {
        "free": {"Authorization": f"Bearer {jwt_for(UserFactory())}"},
        "pro": {"X-API-Key": api_key_for(pro, plan="pro")},
        "staff": {"Authorization": f"Bearer {jwt_for(UserFactory(is_staff=True))}"},
    }


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Schemathesis fills every security scheme with made-up values; the identity under
# test must be the only credential sent.
AUTH_HEADERS = {"authorization", "x-api-key", "cookie"}


def _envelope_on_4xx(response, case) -> None:
    if not 400 <= response.status_code < 500:
        return
    body = response.json()
    error = body["error"]
    assert isinstance(error, dict), body
    assert isinstance(error.get("code"), str), body
    assert error["code"], body
    assert isinstance(error.get("message"), str), body
    if case.path.startswith("/v1/"):
        # OpenAI's own error shape, so OpenAI SDKs parse it.
        assert {"message", "type", "code"} <= set(error), body
    else:
        assert {"code", "message", "details"} <= set(error), body
        assert "request_id" in body, body


@pytest.fixture(autouse=True)
def _outside_services(ai_demo, fake_stripe, fake_lemonsqueezy):
    """The demo model answers AI calls; payment calls go to the fake providers."""


@pytest.fixture(autouse=True)
def _keep_test_connection():
    """Like Django's test client: the WSGI handler must not close the connection
    that holds the test's transaction at the end of each request."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@hsettings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "2")),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_every_generated_request_within_its_schema(case, identities):
    for name in list(case.headers or {}):
        if name.lower() in AUTH_HEADERS:
            del case.headers[name]
    for headers in identities.values():
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)
        _envelope_on_4xx(response, case)
