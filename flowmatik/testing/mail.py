"""An e-mail backend for tests whose SMTP server fails on demand."""

import threading
from smtplib import SMTPServerDisconnected

from django.core.mail.backends.locmem import EmailBackend


class FlakyEmailBackend(EmailBackend):
    """Django's in-memory backend (`mail.outbox`), except that the next
    `FlakyEmailBackend.failures` sends raise `SMTPServerDisconnected`, as a mail
    server dropping the connection would."""

    failures = 0
    attempts = 0
    _lock = threading.Lock()

    def send_messages(self, messages):
        with FlakyEmailBackend._lock:
            FlakyEmailBackend.attempts += 1
            failing = FlakyEmailBackend.failures > 0
            if failing:
                FlakyEmailBackend.failures -= 1
        if failing:
            raise SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(messages)
