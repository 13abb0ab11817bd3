"""Which providers are configured (environment, AI_EXTRA_PROVIDERS, admin rows).

One `AsyncOpenAI` client per provider and event loop is kept and reused: the SDK's
HTTP pool belongs to the loop that created it, so a client is never shared across
loops (uvicorn has one per worker; tests have one per test).
"""

import asyncio
import hashlib
import weakref

import httpx2
import openai
from django.conf import settings

from ai.providers.http_transport import LeanHTTPTransport
from ai.types import ProviderConfig

DEMO_PROVIDER = "demo"
DEMO_API_KEY = "demo-key-not-secret"
_ENV_PROVIDERS = (
    ("siliconflow", "siliconflow", "SILICONFLOW_BASE_URL", "SILICONFLOW_API_KEY"),
    ("doubao", "doubao", "DOUBAO_BASE_URL", "DOUBAO_API_KEY"),
    ("openai", "openai", "OPENAI_BASE_URL", "OPENAI_API_KEY"),
)
_PLACEHOLDER_KEYS = {"", "your-api-key", "changeme", "change-me"}


def _key_is_set(value: str) -> bool:
    return bool(value) and value.strip().lower() not in _PLACEHOLDER_KEYS


def providers_from_settings(
    admin_rows: list[ProviderConfig] | None = None,
) -> dict[str, ProviderConfig]:
    """Every configured provider by name; settings are read at call time.

    SiliconFlow, Doubao and OpenAI count once their key is set; AI_EXTRA_PROVIDERS
    (`{"ollama": {"base_url": ..., "api_key": ...}}`) and enabled admin rows always
    count. The local demo provider serves when no real provider is configured.
    """
    providers: dict[str, ProviderConfig] = {}
    for name, kind, url_setting, key_setting in _ENV_PROVIDERS:
        key = getattr(settings, key_setting, "")
        if _key_is_set(key):
            providers[name] = ProviderConfig(
                name, kind, getattr(settings, url_setting), key, "env"
            )
    for name, conf in (settings.AI_EXTRA_PROVIDERS or {}).items():
        if isinstance(conf, dict) and conf.get("base_url"):
            providers[str(name)] = ProviderConfig(
                str(name),
                str(conf.get("kind", "openai_compatible")),
                str(conf["base_url"]),
                str(conf.get("api_key") or "not-needed"),
                "extra",
            )
    for row in admin_rows or []:
        providers[row.name] = row
    if not providers:
        providers[DEMO_PROVIDER] = ProviderConfig(
            DEMO_PROVIDER, "demo", settings.AI_DEMO_BASE_URL, DEMO_API_KEY, "env"
        )
    return providers


def known_provider_names(configured: dict[str, ProviderConfig]) -> list[str]:
    names = [name for name, *_ in _ENV_PROVIDERS] + [DEMO_PROVIDER]
    return names + [n for n in configured if n not in names]


def provider_timeout() -> httpx2.Timeout:
    return httpx2.Timeout(
        settings.AI_REQUEST_TIMEOUT_SECONDS, connect=settings.AI_CONNECT_TIMEOUT_SECONDS
    )


# per event loop: (provider name, base URL, key fingerprint, timeout) -> its client
_clients: (
    "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, "
    "dict[tuple[str, str, str, str, bool], openai.AsyncOpenAI]]"
) = weakref.WeakKeyDictionary()


def client_for(provider: ProviderConfig) -> openai.AsyncOpenAI:
    """The reused client of `provider` on the running loop (created on first use).

    `max_retries=0`: retries are ours (only before the first streamed byte).
    """
    loop = asyncio.get_running_loop()
    per_loop = _clients.setdefault(loop, {})
    timeout = provider_timeout()
    lean = settings.AI_LEAN_HTTP_TRANSPORT
    fingerprint = hashlib.sha256(provider.api_key.encode()).hexdigest()[:16]
    key = (provider.name, provider.base_url, fingerprint, repr(timeout), lean)
    client = per_loop.get(key)
    if client is None:
        limits = httpx2.Limits(max_connections=200, max_keepalive_connections=50)
        client = openai.AsyncOpenAI(
            api_key=provider.api_key or "not-needed",
            base_url=provider.base_url,
            max_retries=0,
            timeout=timeout,
            http_client=openai.DefaultAsyncHttpx2Client(
                timeout=timeout,
                limits=limits,
                transport=LeanHTTPTransport(limits=limits) if lean else None,
            ),
        )
        per_loop[key] = client
    return client
