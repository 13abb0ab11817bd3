"""The whole run's log lines are scanned for the credentials the tests were issued
(flowmatik/testing/secret_scan.py): what it finds, what it lets through."""

import logging

import pytest

from flowmatik.testing import secret_scan
from flowmatik.testing.auth import api_key_for, jwt_for
from flowmatik.testing.secret_scan import SecretScanner

JWT = (
    "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjo0MiwianRpIjoiYWJjIn0.c2lnbmF0dXJlLXBhcnQtMTIz"
)
KEY = "fmk_1a2b3c4d_" + "Q" * 43


@pytest.fixture
def scanned():
    """A scanner of its own, fed by a logger of its own (not the session's)."""
    scanner = SecretScanner()
    handler = secret_scan._ScanHandler(scanner)
    logger = logging.getLogger("flowmatik.tests.secret_scan")
    logger.addHandler(handler)
    logger.propagate, level = False, logger.level
    logger.setLevel(logging.INFO)
    yield scanner, logger
    logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(level)


def test_a_recorded_token_in_a_log_line_is_a_leak_shown_redacted(scanned):
    scanner, logger = scanned
    scanner.secret(JWT, "jwt (access)")
    scanner.secret(KEY, "api key")
    # the formatter redacts what it recognises: an exception's text it does not
    try:
        raise ValueError(f"bad header Bearer {JWT} and {KEY}")
    except ValueError:
        logger.exception("refused")
    assert scanner.leak_count == 2
    assert {leak.kind for leak in scanner.leaks} == {"jwt (access)", "api key"}
    report = scanner.report()
    assert JWT not in report
    assert KEY not in report
    assert "<api key>" in report


def test_a_line_logged_just_before_its_token_was_recorded_is_found(scanned):
    scanner, logger = scanned
    logger.warning("token: %s", "no", extra={"detail": [f"x {JWT} y"]})
    logger.info("plain %s", JWT.replace(".", " "))  # split up: not the token
    print_line = f"GET /ws/?t={KEY}"
    scanner.scan(print_line, "a process")
    scanner.secret(KEY, "api key")
    assert [leak.where for leak in scanner.leaks] == ["a process"]


def test_redacted_lines_and_unknown_tokens_are_not_leaks(scanned):
    scanner, logger = scanned
    scanner.secret(KEY, "api key")
    logger.info("key %s used", KEY)  # the JSON formatter redacts fmk_ keys
    logger.info("someone else's key fmk_ffffffff_%s", "Z" * 43)
    assert scanner.lines == 2
    assert scanner.leak_count == 0


def test_process_output_files_are_scanned_line_by_line(tmp_path):
    scanner = SecretScanner()
    scanner.secret(JWT, "jwt (access)")
    log = tmp_path / "uvicorn.log"
    log.write_text(f"INFO started\nWebSocket /ws/chat/?token={JWT} [accepted]\n")
    scanner.scan_file(log, "uvicorn output")
    assert [(leak.kind, leak.where) for leak in scanner.leaks] == [
        ("jwt (access)", "uvicorn output")
    ]


def test_the_session_records_issued_credentials_and_watches_the_root_logger(db):
    from accounts.tests.factories import UserFactory

    session = secret_scan.SCANNER
    assert session is not None
    assert any(
        isinstance(h, secret_scan._ScanHandler) for h in logging.getLogger().handlers
    )
    from accounts import services

    user = UserFactory()
    assert session.knows(jwt_for(user))
    assert session.knows(api_key_for(user))
    ticket = services.ws_ticket_mint(
        user_id=user.pk, session_key="s" * 32, origin="http://localhost"
    )
    assert session.knows(ticket)
