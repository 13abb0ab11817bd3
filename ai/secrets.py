"""Encryption at rest for secrets staff or users give us (MCP servers' auth headers).

Fernet (AES-128-CBC + HMAC) with a key derived from AI_SECRETS_KEY (which defaults
to SECRET_KEY): a database dump alone does not reveal the secrets. Changing the key
makes stored secrets unreadable (`secret_decrypt` then raises `SecretUnreadable`);
they are entered again in the admin.
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

from flowmatik.errors import ApplicationError

_CONTEXT = b"flowmatik.ai.secrets.v1:"


class SecretUnreadable(ApplicationError):
    status_code = 500
    code = "secret_unreadable"
    default_message = "A stored secret cannot be decrypted with the current key."


def _fernet() -> Fernet:
    key = (settings.AI_SECRETS_KEY or settings.SECRET_KEY).encode()
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(_CONTEXT + key).digest()))


def secret_encrypt(*, plaintext: str) -> str:
    """The token to store ('' stays '')."""
    if not plaintext:
        return ""
    return _fernet().encrypt(plaintext.encode()).decode()


def secret_decrypt(*, token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable() from None
