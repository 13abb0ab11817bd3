"""Signed, short-lived links to a user's generated files (images, audio, video).

A link names the asset, its owner and an expiry, signed with the secret key
(HMAC-SHA256); `GET /api/ai/assets/{id}/content?expires=&signature=` serves it.
Tampering with any part, or waiting past `expires`, breaks the link.
"""

import base64
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

SALT = "flowmatik.ai.asset-link"


@dataclass(frozen=True)
class AssetLink:
    url: str
    download_url: str
    expires_at: datetime


def _signature(*, asset_id: int, user_id: int, expires: int) -> str:
    digest = salted_hmac(
        SALT, f"{asset_id}:{user_id}:{expires}", algorithm="sha256"
    ).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def asset_link_build(
    *, asset_id: int, user_id: int, now: float | None = None
) -> AssetLink:
    """Links (inline and attachment) valid for STUDIO_ASSET_URL_SECONDS."""
    expires = int((now or time.time()) + settings.STUDIO_ASSET_URL_SECONDS)
    signature = _signature(asset_id=asset_id, user_id=user_id, expires=expires)
    path = reverse("ai-asset-content", kwargs={"asset_id": asset_id})
    url = f"{path}?expires={expires}&signature={signature}"
    return AssetLink(
        url=url,
        download_url=f"{url}&download=1",
        expires_at=datetime.fromtimestamp(expires, tz=UTC),
    )


def asset_link_check(
    *,
    asset_id: int,
    user_id: int,
    expires: int,
    signature: str,
    now: float | None = None,
) -> str:
    """ "ok", "expired" or "invalid" for a link's parameters."""
    wanted = _signature(asset_id=asset_id, user_id=user_id, expires=expires)
    if not constant_time_compare(wanted, signature):
        return "invalid"
    if expires < (now or time.time()):
        return "expired"
    return "ok"
