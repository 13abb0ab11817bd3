"""Spanish where a person reads it: the API's error messages follow the portal's
language (the codes never change), e-mails follow the recipient's saved language,
and the compiled catalogue is complete."""

import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client

from accounts import services as account_services
from accounts.tests.factories import UserFactory
from billing.services import payment_problem_email_queue, payment_problem_email_send

pytestmark = pytest.mark.django_db


def test_api_errors_speak_the_portals_language_with_the_same_code():
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "es"
    response = client.post(
        "/api/auth/login",
        {"email": "nobody@example.com", "password": "wrong-password"},
        content_type="application/json",
    )
    assert response.status_code == 401
    body = response.json()["error"]
    assert body["code"] == "invalid_credentials"
    assert body["message"] == "El correo o la contraseña no son correctos."

    english = Client().post(
        "/api/auth/login",
        {"email": "nobody@example.com", "password": "wrong-password"},
        content_type="application/json",
    )
    assert english.json()["error"]["message"] == "The e-mail or password is incorrect."


def test_reset_e_mail_is_written_in_the_accounts_language(settings):
    settings.RATELIMIT_ENABLE = False
    spanish = UserFactory(language="es")
    english = UserFactory(language="en")
    assert account_services.password_reset_email_send(email=spanish.email)
    assert account_services.password_reset_email_send(email=english.email)
    es, en = mail.outbox
    assert es.subject == "Restablece tu contraseña de Flowmatik"
    assert "Elige una contraseña nueva aquí" in es.body
    assert en.subject == "Reset your Flowmatik password"


def test_payment_e_mail_is_written_in_the_accounts_language(
    django_capture_on_commit_callbacks,
):
    user = UserFactory(language="es")
    with django_capture_on_commit_callbacks(execute=False):
        assert payment_problem_email_queue(user=user, key="stripe:in_1:1")
    from billing.models import PaymentEmail

    assert payment_problem_email_send(email_id=PaymentEmail.objects.get().pk)
    assert mail.outbox[0].subject == "Flowmatik: tu pago ha fallado"


@pytest.mark.skipif(not shutil.which("msgfmt"), reason="needs gettext's msgfmt")
def test_every_spanish_string_is_translated():
    po = Path(settings.BASE_DIR) / "locale" / "es" / "LC_MESSAGES" / "django.po"
    msgfmt = shutil.which("msgfmt") or "msgfmt"
    result = subprocess.run(  # noqa: S603 - msgfmt on our own catalogue
        [msgfmt, "--check-format", "--statistics", "-o", "/dev/null", str(po)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "untranslated" not in result.stderr, result.stderr
    assert "fuzzy" not in result.stderr, result.stderr
