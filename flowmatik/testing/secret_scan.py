"""No credential in any log line of the whole test run (a pytest plugin).

Every secret the tests get issued is recorded as it is made: each JWT the moment
simplejwt encodes it (`jwt_for`, login, refresh and every other token the platform
hands out in this process), each API key `api_key_create` draws (`api_key_for` and
the keys endpoint), each portal WebSocket ticket, and the webhook signing secrets
and fake providers' keys of the payment fixtures. Every log record of the session
is formatted as the platform writes it (`flowmatik.jsonlog.JsonFormatter`, a
handler on the root logger), and the output files of the real processes the
fixtures start (uvicorn, the Celery worker) are read when those stop; a line
holding a recorded secret is a leak, and the run fails at its end with the leaks
listed (redacted).

Cheap by construction: a secret is indexed by its longest run of token characters,
a line is split into such runs and each run is looked up in that index (no
per-secret search); only the last few lines are kept, to catch a line logged just
before its secret was recorded.
"""

import logging
import re
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

MIN_SECRET_CHARS = 12
RECENT_LINES = 256
MAX_LEAKS_KEPT = 20
_RUN = re.compile(r"[A-Za-z0-9_\-]{8,}")


@dataclass(frozen=True)
class Leak:
    kind: str
    where: str
    excerpt: str


class SecretScanner:
    """Recorded secrets, and the leaks found in the lines scanned so far."""

    def __init__(self, *, recent: int = RECENT_LINES) -> None:
        self._lock = threading.Lock()
        self._kinds: dict[str, str] = {}
        self._by_run: dict[str, list[str]] = {}
        self._recent: deque[tuple[str, str]] = deque(maxlen=recent)
        self.leaks: list[Leak] = []
        self.leak_count = 0
        self.lines = 0

    @property
    def secret_count(self) -> int:
        return len(self._kinds)

    def knows(self, value: str) -> bool:
        return value in self._kinds

    def secret(self, value: str, kind: str) -> None:
        """Record `value` (a credential of `kind`); shorter ones are ignored."""
        if not isinstance(value, str) or len(value) < MIN_SECRET_CHARS:
            return
        runs = _RUN.findall(value)
        needle = max(runs, key=len) if runs else ""
        if not needle:
            return
        with self._lock:
            if value in self._kinds:
                return
            self._kinds[value] = kind
            self._by_run.setdefault(needle, []).append(value)
            recent = list(self._recent)
        for where, line in recent:  # logged just before it was recorded
            if value in line:
                self._leak(where, line, [value])

    def scan(self, line: str, where: str) -> None:
        self.lines += 1
        self._recent.append((where, line))
        by_run = self._by_run
        found = [
            value
            for run in set(_RUN.findall(line))
            for value in by_run.get(run, ())
            if value in line
        ]
        if found:
            self._leak(where, line, found)

    def scan_lines(self, lines: Iterable[str], where: str) -> None:
        for line in lines:
            self.scan(line, where)

    def scan_file(self, path: Path, where: str) -> None:
        """A process's output, line by line (never the whole file in memory)."""
        try:
            with path.open(encoding="utf-8", errors="replace") as lines:
                self.scan_lines(lines, where)
        except OSError:
            return

    def _leak(self, where: str, line: str, values: list[str]) -> None:
        with self._lock:
            self.leak_count += len(values)
            shown = line.strip()
            for value in values:
                shown = shown.replace(value, f"<{self._kinds[value]}>")
            for value in values:
                if len(self.leaks) >= MAX_LEAKS_KEPT:
                    break
                kind = self._kinds[value]
                at = shown.find(f"<{kind}>")
                excerpt = shown[max(0, at - 150) : at + 150]
                self.leaks.append(Leak(kind, where, excerpt))

    def report(self) -> str:
        rows = [f"{leak.kind} in {leak.where}: {leak.excerpt}" for leak in self.leaks]
        more = self.leak_count - len(self.leaks)
        tail = [f"... and {more} more"] if more > 0 else []
        return "\n".join(
            [f"{self.leak_count} log line(s) hold a credential:", *rows, *tail]
        )


class _ScanHandler(logging.Handler):
    """Formats each record as the platform's log lines are, and scans it."""

    def __init__(self, scanner: SecretScanner) -> None:
        super().__init__(level=logging.NOTSET)
        from flowmatik.jsonlog import JsonFormatter

        self.scanner = scanner
        self.setFormatter(JsonFormatter())
        self.where = "the test process"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a record that cannot be formatted: its raw message
            line = str(record.msg)
        self.scanner.scan(line, f"{self.where} ({record.name})")


SCANNER: SecretScanner | None = None  # set while a test session runs


def record_secret(value: str, kind: str) -> None:
    """Record a credential the tests were given (no-op outside a session)."""
    if SCANNER is not None:
        SCANNER.secret(value, kind)


def scan_process_output(path: Path, where: str) -> None:
    """Scan a real process's output file once it stopped (no-op outside one)."""
    if SCANNER is not None:
        SCANNER.scan_file(path, where)


# --- the plugin ----------------------------------------------------------------------

_handler: _ScanHandler | None = None


def _record_issued_credentials() -> None:
    """Record JWTs as simplejwt encodes them, API keys as they are drawn and
    WebSocket tickets as they are minted."""
    from rest_framework_simplejwt.tokens import Token

    import accounts.services as account_services
    from accounts.services import api_keys, ws_tickets

    encode = Token.__str__

    def recorded_str(self: Token) -> str:
        text = encode(self)
        record_secret(text, f"jwt ({getattr(self, 'token_type', 'token')})")
        return text

    Token.__str__ = recorded_str  # type: ignore[method-assign]

    create = api_keys.api_key_create

    def recorded_create(**kwargs: Any) -> Any:
        created = create(**kwargs)
        record_secret(created.raw_key, "api key")
        return created

    api_keys.api_key_create = recorded_create
    account_services.api_key_create = recorded_create

    mint = ws_tickets.ws_ticket_mint

    def recorded_mint(**kwargs: Any) -> str:
        ticket = mint(**kwargs)
        record_secret(ticket, "websocket ticket")
        return ticket

    ws_tickets.ws_ticket_mint = recorded_mint
    account_services.ws_ticket_mint = recorded_mint


def _record_fixture_secrets() -> None:
    from flowmatik.testing import fake_lemonsqueezy, fake_stripe, payments

    record_secret(payments.STRIPE_WEBHOOK_SECRET, "stripe webhook secret")
    record_secret(payments.LEMONSQUEEZY_WEBHOOK_SECRET, "lemonsqueezy webhook secret")
    record_secret(fake_stripe.DEFAULT_KEY, "stripe api key")
    record_secret(fake_lemonsqueezy.DEFAULT_KEY, "lemonsqueezy api key")


def pytest_sessionstart(session: pytest.Session) -> None:
    global SCANNER, _handler
    SCANNER = SecretScanner()
    _handler = _ScanHandler(SCANNER)
    logging.getLogger().addHandler(_handler)
    _record_issued_credentials()
    _record_fixture_secrets()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Keep the handler on the root logger (a test may reconfigure logging)."""
    root = logging.getLogger()
    if _handler is not None and _handler not in root.handlers:
        root.addHandler(_handler)
    if _handler is not None:
        _handler.where = item.nodeid


def pytest_runtest_teardown(item: pytest.Item) -> None:
    if _handler is not None:
        _handler.where = f"teardown of {item.nodeid}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler.where = "the test process"
    if SCANNER is not None and SCANNER.leak_count:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SCANNER is None:
        return
    if SCANNER.leak_count:
        terminalreporter.section("credentials in log lines", red=True)
        terminalreporter.write_line(SCANNER.report())
    else:
        terminalreporter.write_line(
            f"secret scan: {SCANNER.lines} log lines, "
            f"{SCANNER.secret_count} credentials, no leak"
        )
