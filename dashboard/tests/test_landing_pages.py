"""The landing page and pricing: plans from the database with monthly prices,
limits and human feature labels (never slugs), a call to action; a logged-in
visitor of `/` goes to the app."""

import pytest
from django.test import Client

from billing.models import Plan
from billing.tests.factories import subscription_row

pytestmark = pytest.mark.django_db


def test_landing_shows_the_plans_with_labels_not_slugs():
    html = Client().get("/").content.decode()
    assert "Create content with AI" in html
    assert "$19" in html
    assert "1,000 requests a day" in html
    assert "Unlimited requests" in html  # Business
    assert "Community support" in html
    assert "community_support" not in html
    assert 'href="/signup/"' in html


def test_a_logged_in_visitor_goes_to_the_app(user):
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/app/chat/"


def test_pricing_reads_the_database_and_marks_the_current_plan(user):
    Plan.objects.filter(slug="pro").update(price="45.50", tokens_per_day=1234567)
    Plan.objects.create(
        slug="annual",
        name="Annual",
        price="120.00",
        interval="year",
        features=["api", "not_a_feature"],
        sort_order=9,
    )
    Plan.objects.filter(slug="starter").update(is_active=False)
    subscription_row(user=user, plan="pro")
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    html = client.get("/pricing/").content.decode()
    assert "$45.50" in html
    assert "1,234,567 tokens a day" in html
    assert "$10" in html  # 120 a year is 10 a month
    assert "Billed yearly" in html
    assert "not_a_feature" not in html
    assert "Starter" not in html
    assert "Your plan" in html
    assert 'href="/billing/"' in html


def test_pricing_in_spanish():
    client = Client()
    html = client.get("/pricing/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Precios" in html
    assert "1\u00a0000 solicitudes al día" in html  # Spanish groups with a space
    assert "Soporte de la comunidad" in html
    assert "Chat básico y soporte de la comunidad." in html


def test_no_500_on_other_methods():
    assert Client().post("/pricing/").status_code == 405
