"""Base settings: every value is read here, once, through one `environ.Env`.

With no environment at all the platform runs on the embedded default: SQLite under
`var/`, a disk cache under `var/` shared by the local processes, an in-memory channel
layer relayed between them, a filesystem Celery broker and the console e-mail
backend. `DATABASE_URL` and `REDIS_URL` switch to the production stack.
"""

import re
from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# The file of variables read at start (the process environment wins over it)
ENV_FILE = Path(env.str("FLOWMATIK_ENV_FILE", default=str(BASE_DIR / ".env")))
if env.bool("FLOWMATIK_READ_DOT_ENV", default=True) and ENV_FILE.exists():
    environ.Env.read_env(ENV_FILE)

# Local state of the embedded default (SQLite, queues, media...). Its folders are
# made at startup by flowmatik.apps, never by importing settings.
VAR_DIR = Path(env.str("FLOWMATIK_VAR_DIR", default=str(BASE_DIR / "var")))


def parse_duration(value: str) -> timedelta:
    """Parse `7d`, `15m`, `12h`, `30s` or a bare number of seconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw]?)\s*", str(value))
    if not match:
        raise ValueError(f"Invalid duration {value!r}: use e.g. 15m, 12h or 7d")
    amount, unit = int(match.group(1)), match.group(2) or "s"
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    return timedelta(seconds=amount * seconds)


# --- Server ---
ENVIRONMENT = env.str("ENVIRONMENT", default=env.str("NODE_ENV", default="development"))
DEBUG = env.bool("DEBUG", default=ENVIRONMENT == "development")
SECRET_KEY = env.str(
    "SECRET_KEY", default="dev-insecure-secret-key-change-me-0123456789"
)
PORT = env.int("PORT", default=8000)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
FRONTEND_URL = env.str("FRONTEND_URL", default=f"http://localhost:{PORT}")

INSTALLED_APPS = [
    # django.contrib.admin with the audited site and its summary index
    "flowmatik.admin_site.FlowmatikAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "axes",
    "djstripe",
    "auditlog",
    "flowmatik",
    "accounts",
    "billing",
    "usage",
    "ai",
    "webhooks_app",
    "dashboard",
    "notifications",
]

MIDDLEWARE = [
    "flowmatik.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files answered by the ASGI app itself (production too), before anything
    # that touches the session or the database
    "servestatic.middleware.ServeStaticMiddleware",
    "flowmatik.middleware.SecurityHeadersMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Language: the cookie set by the language switch, else Accept-Language ...
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # ... and for a logged-in user, the language saved on the account
    "accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "flowmatik.middleware.ApiExceptionMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "flowmatik.urls"
WSGI_APPLICATION = "flowmatik.wsgi.application"
ASGI_APPLICATION = "flowmatik.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "notifications.context_processors.unread_count",
            ],
        },
    },
]

# --- Database ---
DATABASE_URL = env.str(
    "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'flowmatik.sqlite3'}"
)
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
_db = DATABASES["default"]
_db["ATOMIC_REQUESTS"] = False
_db["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)  # 0 under ASGI
if _db["ENGINE"].endswith("mysql"):
    _db.setdefault("OPTIONS", {}).update(
        {
            "charset": "utf8mb4",
            "isolation_level": "read committed",
            # An unreachable server fails the request fast (503) instead of hanging
            "connect_timeout": env.int("DB_CONNECT_TIMEOUT_SECONDS", default=5),
            "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
        }
    )
    _db["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
elif _db["ENGINE"].endswith("sqlite3"):
    # WAL + IMMEDIATE transactions let the web server and the worker share the file.
    _db.setdefault("OPTIONS", {}).update(
        {
            "timeout": env.int("SQLITE_TIMEOUT_SECONDS", default=20),
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, channel layer, broker: Redis when REDIS_URL is set ---
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            # django-redis; this process's writes drop its own copies at once
            "BACKEND": "flowmatik.cache_local.LocallyCopiedRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="fmk"),
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": env.float(
                    "REDIS_CONNECT_TIMEOUT", default=1.0
                ),
                "SOCKET_TIMEOUT": env.float("REDIS_SOCKET_TIMEOUT", default=1.0),
                # Redis down = every read a miss (the database answers), every write
                # a no-op; rate limits on the cache then refuse (fail closed)
                "IGNORE_EXCEPTIONS": env.bool(
                    "CACHE_REDIS_IGNORE_ERRORS", default=True
                ),
            },
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "flowmatik.realtime.CountingRedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        # channels-redis blocks 5 s per BZPOPMIN; redis-py's default
                        # read timeout is also 5 s, so an idle consumer's read could
                        # time out just as the server answers. Keep it well above.
                        "socket_timeout": env.float(
                            "CHANNELS_SOCKET_TIMEOUT_SECONDS", default=15.0
                        ),
                    }
                ],
                "prefix": env.str("CHANNELS_PREFIX", default="fmk-asgi"),
                # A slow socket can hold this many undelivered messages per channel
                # before channels-redis drops new ones; notifications are stored
                # first, so a drop costs only the live push.
                "capacity": env.int("CHANNELS_CAPACITY", default=500),
                "expiry": env.int("CHANNELS_EXPIRY_SECONDS", default=60),
                "group_expiry": env.int("CHANNELS_GROUP_EXPIRY_SECONDS", default=86400),
            },
        }
    }
else:
    # One cache every local process shares (web workers, Celery worker, beat): a
    # diskcache SQLite store under var/. Measured on the hot path against Django's
    # database and file caches: 3-20x faster, and the only one whose `incr` is atomic
    # across processes (rate-limit windows).
    CACHES = {
        "default": {
            "BACKEND": "diskcache.DjangoCache",
            "LOCATION": env.str("CACHE_DIR", default=str(VAR_DIR / "cache")),
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="fmk"),
            "TIMEOUT": 300,
            "SHARDS": env.int("CACHE_DISK_SHARDS", default=8),
            # SQLite busy timeout per operation; writes retry past it, reads miss
            "DATABASE_TIMEOUT": env.float("CACHE_DISK_TIMEOUT_SECONDS", default=0.05),
            "OPTIONS": {"size_limit": env.int("CACHE_DISK_SIZE_BYTES", default=2**30)},
        }
    }
    # In memory per process, group messages relayed between the local processes
    # over loopback (flowmatik/channel_relay.py): worker pushes reach web sockets.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "flowmatik.channel_relay.RelayChannelLayer",
            "CONFIG": {
                "capacity": env.int("CHANNELS_CAPACITY", default=500),
                "relay_dir": env.str(
                    "CHANNELS_RELAY_DIR", default=str(VAR_DIR / "channels")
                ),
                "relay_timeout": env.float(
                    "CHANNELS_RELAY_TIMEOUT_SECONDS", default=1.0
                ),
                "relay_max_bytes": env.int(
                    "CHANNELS_RELAY_MAX_BYTES", default=1024 * 1024
                ),
            },
        }
    }

# Versioned cache entries (flowmatik/versioned_cache.py): how long a version token
# lives; a lost token only costs a cache miss
CACHE_VERSION_TTL_SECONDS = env.int("CACHE_VERSION_TTL_SECONDS", default=7 * 86400)

# --- WebSockets (flowmatik/realtime.py) ---
# Each process counts its open sockets under its own Redis key, refreshed by a
# heartbeat; a dead process's key expires after the TTL.
WS_CONNECTIONS_KEY_PREFIX = env.str("WS_CONNECTIONS_KEY_PREFIX", default="fmk:ws:conn")
WS_CONNECTION_TTL_SECONDS = env.int("WS_CONNECTION_TTL_SECONDS", default=90)
WS_CONNECTION_HEARTBEAT_SECONDS = env.float(
    "WS_CONNECTION_HEARTBEAT_SECONDS", default=30.0
)
# Chat deltas are coalesced into one frame per this many milliseconds
WS_CHAT_COALESCE_MS = env.int("WS_CHAT_COALESCE_MS", default=50)
# A web worker freezes its start-up heap (gc.freeze) once started: full garbage
# collections then skip those objects (flowmatik/heap.py)
GC_FREEZE_AT_STARTUP = env.bool("GC_FREEZE_AT_STARTUP", default=True)
# A streamed response's reader of the chat may run this many events ahead of what the
# client has taken (flowmatik/sse.py, ai/consumers.py), then waits for it
STREAM_READ_AHEAD_EVENTS = env.int("STREAM_READ_AHEAD_EVENTS", default=64)
# The portal's sockets: a one-use ticket minted for the session (POST /app/ws-ticket/)
# is valid this many seconds (flowmatik/ws_auth.py)
WS_TICKET_TTL_SECONDS = env.int("WS_TICKET_TTL_SECONDS", default=30)

# --- Celery ---
CELERY_DATA_DIR = VAR_DIR / "celery"
CELERY_BROKER_URL = env.str(
    "CELERY_BROKER_URL", default=REDIS_URL or "filesystem://localhost//"
)
# No task result is ever read (tasks write their effects to the database), so none
# is stored unless a backend is named here (e.g. redis://... to inspect results).
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="")
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=270)
# Longer than any task's time limit and any retry countdown, or Redis redelivers.
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=7200)
# Redis broker: how often (seconds) each worker looks for messages of a dead worker
# whose visibility timeout ran out and puts them back in their queue (kombu's
# `unacked_restore_interval`; every look scans, `unacked_restore_throttle` = 1).
CELERY_UNACKED_RESTORE_INTERVAL_SECONDS = env.int(
    "CELERY_UNACKED_RESTORE_INTERVAL_SECONDS", default=60
)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# --- Auth ---
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env.int("PASSWORD_MIN_LENGTH", default=8)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT_SECONDS", default=3600)
LOGIN_URL = "/login/"
# Where log-in and sign-up land (without a safe `next`): the app
LOGIN_REDIRECT_URL = "/app/chat/"

JWT_SECRET = env.str("JWT_SECRET", default=SECRET_KEY)
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": parse_duration(
        env.str("JWT_ACCESS_EXPIRES_IN", default="15m")
    ),
    "REFRESH_TOKEN_LIFETIME": parse_duration(env.str("JWT_EXPIRES_IN", default="7d")),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SECRET,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "LEEWAY": env.int("JWT_LEEWAY_SECONDS", default=0),
    # Tokens carry a fingerprint of the password hash: a password change kills them.
    "CHECK_REVOKE_TOKEN": True,
}
# Seconds an authenticated identity (JWT user / API key) is cached on the hot path
IDENTITY_CACHE_SECONDS = env.int("IDENTITY_CACHE_SECONDS", default=30)
# With Redis: each process keeps copies of the cache entries the event loop reads
# (identity, plan, override, catalogue version, circuit state), dropped as Redis
# announces each change (client tracking; flowmatik/cache_local.py); a copy is
# served at most this many seconds after it was read (0 = no copies)
CACHE_LOCAL_COPY_SECONDS = env.float("CACHE_LOCAL_COPY_SECONDS", default=10.0)
# The listener of those announcements PINGs Redis when idle this often; silent for
# three times as long, it is presumed dead and the copies are dropped
CACHE_LOCAL_PING_SECONDS = env.float("CACHE_LOCAL_PING_SECONDS", default=1.0)
# An API key's last_used_at is written at most once per this many seconds
API_KEY_LAST_USED_INTERVAL_SECONDS = env.int(
    "API_KEY_LAST_USED_INTERVAL_SECONDS", default=60
)

# Brute-force lockout (django-axes): keyed on e-mail + IP, with a cool-off.
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_FORM_FIELD = "email"
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_USERNAME_CALLABLE = "accounts.lockout.axes_username"
# The client IP comes from one place (flowmatik/client_ip.py): see CLIENT_IP_META_KEY
AXES_CLIENT_IP_CALLABLE = "flowmatik.client_ip.client_ip"

# Per-IP rate limits (django-ratelimit), in django-ratelimit's "count/period" syntax.
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
RATELIMIT_USE_CACHE = "default"
# request.META key holding the client IP, for rate limits, lockouts, AI limits and
# metrics. Behind a proxy keep REMOTE_ADDR and set FORWARDED_ALLOW_IPS (uvicorn).
CLIENT_IP_META_KEY = env.str("CLIENT_IP_META_KEY", default="REMOTE_ADDR")
RATELIMIT_IP_META_KEY = "flowmatik.client_ip.client_ip"
RATELIMIT_REGISTER = env.str("RATELIMIT_REGISTER", default="20/h")
RATELIMIT_LOGIN = env.str("RATELIMIT_LOGIN", default="60/m")
RATELIMIT_FORGOT_PASSWORD = env.str("RATELIMIT_FORGOT_PASSWORD", default="10/h")
RATELIMIT_AI_PER_USER = env.str("RATELIMIT_AI_PER_USER", default="120/m")
RATELIMIT_AI_PER_IP = env.str("RATELIMIT_AI_PER_IP", default="300/m")

# --- DRF / OpenAPI ---
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "accounts.authentication.JwtAuthentication",
        "accounts.authentication.BoundSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["flowmatik.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "flowmatik.pagination.PageNumberPagination",
    "PAGE_SIZE": env.int("API_PAGE_SIZE", default=20),
    "EXCEPTION_HANDLER": "flowmatik.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",
    "COERCE_DECIMAL_TO_STRING": True,
}
API_MAX_PAGE_SIZE = env.int("API_MAX_PAGE_SIZE", default=100)
# Rows per page of the staff portal's tables (/staff/users/, webhook failures)
PORTAL_STAFF_PAGE_SIZE = env.int("PORTAL_STAFF_PAGE_SIZE", default=25)
SPECTACULAR_SETTINGS = {
    "TITLE": "Flowmatik API",
    "DESCRIPTION": "AI content creation platform: chat, content, usage, billing.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from our own static files (works offline, strict CSP)
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Error responses documented without a body get the one error envelope.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "flowmatik.error_schema.error_responses_document",
    ],
    # One name per shared choice set (otherwise generated names like Type697Enum).
    "ENUM_NAME_OVERRIDES": {
        "PaymentProviderEnum": "billing.models.Provider",
        "ToolTypeEnum": [("function", "function")],
        "ContentTypeEnum": "ai.models.JobType",
        "MessageRoleEnum": "ai.models.MessageRole",
        "UserRoleEnum": [("admin", "admin"), ("premium", "premium"), ("user", "user")],
        "StaffSettableRoleEnum": [("admin", "admin"), ("user", "user")],
    },
}

# --- CORS and security headers ---
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = True
CORS_EXPOSE_HEADERS = [
    "X-Request-ID",
    "Retry-After",
    "X-RateLimit-Limit-Requests",
    "X-RateLimit-Remaining-Requests",
    "X-RateLimit-Limit-Tokens",
    "X-RateLimit-Remaining-Tokens",
    "X-RateLimit-Reset",
]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
X_FRAME_OPTIONS = "DENY"
# No inline scripts or inline event handlers anywhere (the portal passes data with
# data-* attributes and json_script; Swagger UI's init script is a file)
CONTENT_SECURITY_POLICY = env.str(
    "CONTENT_SECURITY_POLICY",
    default=(
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' data: blob:; "
        "style-src 'self' 'unsafe-inline'; script-src 'self'; "
        "connect-src 'self' ws: wss:; frame-ancestors 'none'"
    ),
)

# Largest request body sent chunked (no Content-Length) that is read; larger: 413
HTTP_CHUNKED_BODY_MAX_BYTES = env.int("HTTP_CHUNKED_BODY_MAX_BYTES", default=2_621_440)

# --- Static, media, i18n ---
STATIC_URL = "/static/"
# Where collectstatic gathers the files production serves
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # The front-end packages npm installed (package.json), only the files named in
    # NPM_STATIC_FILES (flowmatik/static_npm.py)
    "flowmatik.static_npm.NpmFinder",
]
# Where `npm ci` puts the packages of package.json
NPM_ROOT = Path(env.str("NPM_ROOT", default=str(BASE_DIR / "node_modules")))
# Static path -> file under NPM_ROOT: the only node_modules files served / collected
NPM_STATIC_FILES = {
    "vendor/htmx/htmx.min.js": "htmx.org/dist/htmx.min.js",
}
# servestatic: with DEBUG it serves straight from the finders (no collectstatic);
# without, from STATIC_ROOT (collectstatic), hashed names cached for a year
SERVESTATIC_USE_FINDERS = env.bool("SERVESTATIC_USE_FINDERS", default=DEBUG)
SERVESTATIC_AUTOREFRESH = SERVESTATIC_USE_FINDERS
# Cache lifetime (seconds) of static files whose names carry no content hash
SERVESTATIC_MAX_AGE = env.int("STATIC_MAX_AGE_SECONDS", default=0 if DEBUG else 3600)
LOCALE_PATHS = [BASE_DIR / "locale"]
# Rows per page of the portal's lists (notifications, history...)
PORTAL_PAGE_SIZE = env.int("PORTAL_PAGE_SIZE", default=20)
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- E-mail ---
SMTP_HOST = env.str("SMTP_HOST", default="")
if SMTP_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = SMTP_HOST
    EMAIL_PORT = env.int("SMTP_PORT", default=587)
    EMAIL_HOST_USER = env.str("SMTP_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("SMTP_PASS", default="")
    EMAIL_USE_TLS = env.bool("SMTP_USE_TLS", default=EMAIL_PORT == 587)
    EMAIL_USE_SSL = env.bool("SMTP_USE_SSL", default=EMAIL_PORT == 465)
    EMAIL_TIMEOUT = env.int("SMTP_TIMEOUT_SECONDS", default=10)
else:
    EMAIL_BACKEND = env.str(
        "EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
    )
DEFAULT_FROM_EMAIL = env.str(
    "DEFAULT_FROM_EMAIL", default="Flowmatik <team@flowmatik.co>"
)

# --- Payments: Stripe (dj-stripe) and LemonSqueezy ---
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
STRIPE_API_VERSION = env.str("STRIPE_API_VERSION", default="2026-05-27.dahlia")
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=10.0)
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env.int(
    "STRIPE_WEBHOOK_TOLERANCE_SECONDS", default=300
)
STRIPE_LIVE_MODE = STRIPE_SECRET_KEY.startswith("sk_live_")
STRIPE_LIVE_SECRET_KEY = STRIPE_SECRET_KEY if STRIPE_LIVE_MODE else ""
STRIPE_TEST_SECRET_KEY = "" if STRIPE_LIVE_MODE else STRIPE_SECRET_KEY
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"

LEMONSQUEEZY_API_KEY = env.str("LEMONSQUEEZY_API_KEY", default="")
LEMONSQUEEZY_WEBHOOK_SECRET = env.str("LEMONSQUEEZY_WEBHOOK_SECRET", default="")
LEMONSQUEEZY_STORE_ID = env.str("LEMONSQUEEZY_STORE_ID", default="")
LEMONSQUEEZY_API_BASE = env.str(
    "LEMONSQUEEZY_API_BASE", default="https://api.lemonsqueezy.com/v1"
)
LEMONSQUEEZY_TIMEOUT_SECONDS = env.float("LEMONSQUEEZY_TIMEOUT_SECONDS", default=10.0)
LEMONSQUEEZY_TEST_MODE = env.bool(
    "LEMONSQUEEZY_TEST_MODE", default=ENVIRONMENT != "production"
)
LEMONSQUEEZY_MAX_RETRIES = env.int("LEMONSQUEEZY_MAX_RETRIES", default=3)
LEMONSQUEEZY_RETRY_BACKOFF_SECONDS = env.float(
    "LEMONSQUEEZY_RETRY_BACKOFF_SECONDS", default=1.0
)
# Longest wait between retries (and the Retry-After we pass on), whatever LS asks
LEMONSQUEEZY_MAX_RETRY_AFTER_SECONDS = env.float(
    "LEMONSQUEEZY_MAX_RETRY_AFTER_SECONDS", default=30.0
)
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
# Per-plan Stripe price ids / LemonSqueezy variant ids (a value set in the admin wins)
BILLING_STRIPE_PRICE_IDS = {
    slug: env.str(f"STRIPE_PRICE_{slug.upper()}", default="")
    for slug in ("starter", "pro", "business")
}
BILLING_LEMONSQUEEZY_VARIANT_IDS = {
    slug: env.str(f"LEMONSQUEEZY_VARIANT_{slug.upper()}", default="")
    for slug in ("starter", "pro", "business")
}
# Where providers send the user back after checkout / the customer portal
BILLING_SUCCESS_URL = env.str(
    "BILLING_SUCCESS_URL", default=f"{FRONTEND_URL}/billing/?checkout=success"
)
BILLING_CANCEL_URL = env.str(
    "BILLING_CANCEL_URL", default=f"{FRONTEND_URL}/billing/?checkout=cancelled"
)
BILLING_PORTAL_RETURN_URL = env.str(
    "BILLING_PORTAL_RETURN_URL", default=f"{FRONTEND_URL}/billing/"
)
# How often cancelled subscriptions past their period end drop users to Free
SUBSCRIPTION_EXPIRE_INTERVAL_SECONDS = env.int(
    "SUBSCRIPTION_EXPIRE_INTERVAL_SECONDS", default=300
)

WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=512 * 1024)
# Deepest JSON nesting a webhook body may have (provider events nest < 10 levels)
WEBHOOK_MAX_JSON_DEPTH = env.int("WEBHOOK_MAX_JSON_DEPTH", default=64)
WEBHOOK_MAX_RETRIES = env.int("WEBHOOK_MAX_RETRIES", default=5)
# Most event ids one staff POST /api/webhooks/retry may name
WEBHOOK_RETRY_MAX_IDS = env.int("WEBHOOK_RETRY_MAX_IDS", default=1000)
# Retry n waits a random 0..min(max, base * 2**n) seconds (exponential, full jitter)
WEBHOOK_RETRY_BACKOFF_SECONDS = env.int("WEBHOOK_RETRY_BACKOFF_SECONDS", default=30)
WEBHOOK_RETRY_BACKOFF_MAX_SECONDS = env.int(
    "WEBHOOK_RETRY_BACKOFF_MAX_SECONDS", default=3600
)
# How often Celery beat re-reads live subscriptions from each configured provider
SUBSCRIPTION_RECONCILE_INTERVAL_SECONDS = env.int(
    "SUBSCRIPTION_RECONCILE_INTERVAL_SECONDS", default=3600
)
# A `received` event untouched this long past the longest retry wait is re-queued
WEBHOOK_STALE_AFTER_SECONDS = env.int("WEBHOOK_STALE_AFTER_SECONDS", default=900)

# --- AI providers ---
SILICONFLOW_API_KEY = env.str("SILICONFLOW_API_KEY", default="")
SILICONFLOW_BASE_URL = env.str(
    "SILICONFLOW_BASE_URL", default="https://api.siliconflow.cn/v1"
)
DOUBAO_API_KEY = env.str("DOUBAO_API_KEY", default=env.str("ARK_API_KEY", default=""))
DOUBAO_BASE_URL = env.str(
    "DOUBAO_BASE_URL", default="https://ark.cn-beijing.volces.com/api/v3"
)
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="https://api.openai.com/v1")
AI_EXTRA_PROVIDERS = env.json("AI_EXTRA_PROVIDERS", default={})
AI_DEFAULT_MODEL = env.str("AI_DEFAULT_MODEL", default="")
AI_DEMO_HOST = env.str("AI_DEMO_HOST", default="127.0.0.1")
AI_DEMO_PORT = env.int("AI_DEMO_PORT", default=8765)
# The demo model streams this many tokens (words) per second, so streaming is
# visible in the portal; 0 = as fast as it can
AI_DEMO_TOKENS_PER_SECOND = env.float("AI_DEMO_TOKENS_PER_SECOND", default=30.0)
AI_DEMO_BASE_URL = env.str(
    "AI_DEMO_BASE_URL", default=f"http://{AI_DEMO_HOST}:{AI_DEMO_PORT}/v1"
)
AI_REQUEST_TIMEOUT_SECONDS = env.float("AI_REQUEST_TIMEOUT_SECONDS", default=60.0)
# AI calls (POST /api/ai/*, /v1/*) admitted by the quota that one web process runs at
# once (provider calls, streams); another admitted call is refused with 503
# `overloaded` and this Retry-After, its reservation released (0 = no limit). A call
# the quota refuses holds no slot: it gets its 429 (flowmatik/overload.py)
AI_MAX_CONCURRENT_REQUESTS = env.int("AI_MAX_CONCURRENT_REQUESTS", default=200)
AI_OVERLOAD_RETRY_AFTER_SECONDS = env.int("AI_OVERLOAD_RETRY_AFTER_SECONDS", default=2)
# AI requests one web process holds at once from the first byte (waiting, being
# admitted or running); past it refused at once with 503 `overloaded` before any
# work: the cheap cap that bounds memory and sockets under a flood (0 = no limit)
AI_MAX_PENDING_REQUESTS = env.int("AI_MAX_PENDING_REQUESTS", default=2000)
# Of those, how many may be between their whole body and their quota admission at
# once (auth, validation, the quota round trip; a body still arriving holds no
# place); the others wait their turn, at most AI_ADMISSION_WAIT_SECONDS (then 503
# `overloaded`). Bounds how long a burst keeps
# each request's Redis reply waiting on the event loop (0 = no bound)
AI_ADMISSION_CONCURRENCY = env.int("AI_ADMISSION_CONCURRENCY", default=32)
AI_ADMISSION_WAIT_SECONDS = env.float("AI_ADMISSION_WAIT_SECONDS", default=30.0)
AI_CONNECT_TIMEOUT_SECONDS = env.float("AI_CONNECT_TIMEOUT_SECONDS", default=5.0)
AI_MAX_RETRIES = env.int("AI_MAX_RETRIES", default=2)
# The providers' HTTP client: our lean HTTP/1.1 keep-alive transport (one socket
# write per request, httptools parser: ai/providers/http_transport.py), or false for
# httpx's default transport (httpcore on anyio)
AI_LEAN_HTTP_TRANSPORT = env.bool("AI_LEAN_HTTP_TRANSPORT", default=True)
# Longest wait before a retry; a 429 asking for longer is not retried (503 + its hint)
AI_RETRY_MAX_WAIT_SECONDS = env.float("AI_RETRY_MAX_WAIT_SECONDS", default=4.0)
AI_CIRCUIT_FAILURE_THRESHOLD = env.int("AI_CIRCUIT_FAILURE_THRESHOLD", default=5)
AI_CIRCUIT_RESET_SECONDS = env.int("AI_CIRCUIT_RESET_SECONDS", default=30)
# Successful calls' health figures are written to the cache at most this often per
# process and provider (0: on every call); failures are written at once.
AI_CIRCUIT_STATS_FLUSH_SECONDS = env.float(
    "AI_CIRCUIT_STATS_FLUSH_SECONDS", default=1.0
)
AI_DEFAULT_MAX_TOKENS = env.int("AI_DEFAULT_MAX_TOKENS", default=1024)
# Model that summarises long conversations in the background ("" = drop old turns)
AI_SUMMARY_MODEL = env.str("AI_SUMMARY_MODEL", default="")
AI_SUMMARY_KEEP_MESSAGES = env.int("AI_SUMMARY_KEEP_MESSAGES", default=20)
# Input bounds of the chat endpoints (REST, OpenAI-compatible API, WebSocket)
AI_MAX_MESSAGE_CHARS = env.int("AI_MAX_MESSAGE_CHARS", default=100_000)
AI_MAX_MESSAGES = env.int("AI_MAX_MESSAGES", default=500)
AI_MAX_OUTPUT_TOKENS = env.int("AI_MAX_OUTPUT_TOKENS", default=200_000)
AI_MAX_TOOLS = env.int("AI_MAX_TOOLS", default=128)
# Agents and tools: model calls per agent turn, per-tool timeout and result size
AI_AGENT_MAX_STEPS = env.int("AI_AGENT_MAX_STEPS", default=6)
# Tool calls run per model step (more get an error result the model reads)
AI_AGENT_MAX_TOOL_CALLS = env.int("AI_AGENT_MAX_TOOL_CALLS", default=8)
AI_TOOL_TIMEOUT_SECONDS = env.float("AI_TOOL_TIMEOUT_SECONDS", default=20.0)
AI_TOOL_RESULT_MAX_CHARS = env.int("AI_TOOL_RESULT_MAX_CHARS", default=8_000)
AI_MAX_AGENTS_PER_USER = env.int("AI_MAX_AGENTS_PER_USER", default=50)
# External MCP servers: tool lists cached this long (refreshed on a failed call)
AI_MCP_TOOLS_CACHE_SECONDS = env.int("AI_MCP_TOOLS_CACHE_SECONDS", default=300)
AI_MCP_CONNECT_TIMEOUT_SECONDS = env.float(
    "AI_MCP_CONNECT_TIMEOUT_SECONDS", default=5.0
)
AI_MCP_MAX_TOOLS_PER_SERVER = env.int("AI_MCP_MAX_TOOLS_PER_SERVER", default=64)
AI_MAX_MCP_SERVERS_PER_USER = env.int("AI_MAX_MCP_SERVERS_PER_USER", default=10)
# Let users register MCP servers on private/loopback addresses (staff always may)
AI_MCP_ALLOW_PRIVATE_URLS = env.bool("AI_MCP_ALLOW_PRIVATE_URLS", default=False)
# Key that encrypts stored secrets (MCP auth headers); empty = derived from SECRET_KEY
AI_SECRETS_KEY = env.str("AI_SECRETS_KEY", default="")
# Widest range (days) a usage report may span
USAGE_MAX_RANGE_DAYS = env.int("USAGE_MAX_RANGE_DAYS", default=366)

# --- Content studio (POST /api/ai/generate-content, Celery jobs, stored assets) ---
# Characters of one request's prompt, and of the text read aloud by a speech job
STUDIO_MAX_PROMPT_CHARS = env.int("STUDIO_MAX_PROMPT_CHARS", default=20_000)
STUDIO_TTS_MAX_CHARS = env.int("STUDIO_TTS_MAX_CHARS", default=5_000)
# Jobs one user may have queued or running at once (more: 429 too_many_jobs)
STUDIO_MAX_ACTIVE_JOBS = env.int("STUDIO_MAX_ACTIVE_JOBS", default=10)
# max_tokens of one text generation (clamped further by the model and the quota)
STUDIO_TEXT_MAX_TOKENS = env.int("STUDIO_TEXT_MAX_TOKENS", default=2_048)
# A running job's lease: past it (worker died) the sweeper re-queues the job. A job
# runs at most STUDIO_JOB_MAX_ATTEMPTS times in all (retries and re-runs); a dead
# worker's job past that fails (`job_stalled`)
STUDIO_JOB_LEASE_SECONDS = env.int("STUDIO_JOB_LEASE_SECONDS", default=600)
STUDIO_JOB_MAX_ATTEMPTS = env.int("STUDIO_JOB_MAX_ATTEMPTS", default=4)
STUDIO_SWEEP_INTERVAL_SECONDS = env.int("STUDIO_SWEEP_INTERVAL_SECONDS", default=60)
# Transient provider errors (429/5xx/timeouts) are retried this often, backing off
# from STUDIO_RETRY_BACKOFF_SECONDS up to STUDIO_RETRY_BACKOFF_MAX_SECONDS (jitter)
STUDIO_TASK_MAX_RETRIES = env.int("STUDIO_TASK_MAX_RETRIES", default=3)
STUDIO_RETRY_BACKOFF_SECONDS = env.float("STUDIO_RETRY_BACKOFF_SECONDS", default=5.0)
STUDIO_RETRY_BACKOFF_MAX_SECONDS = env.float(
    "STUDIO_RETRY_BACKOFF_MAX_SECONDS", default=120.0
)
# Video: first poll after STUDIO_VIDEO_POLL_SECONDS, doubling up to the max; a video
# not done STUDIO_VIDEO_DEADLINE_SECONDS after submit fails (`video_timeout`)
STUDIO_VIDEO_POLL_SECONDS = env.float("STUDIO_VIDEO_POLL_SECONDS", default=5.0)
STUDIO_VIDEO_POLL_MAX_SECONDS = env.float("STUDIO_VIDEO_POLL_MAX_SECONDS", default=30.0)
STUDIO_VIDEO_DEADLINE_SECONDS = env.int("STUDIO_VIDEO_DEADLINE_SECONDS", default=900)
# Generated files are downloaded at once (provider URLs expire): size caps per kind
# (bytes) and the download timeout
STUDIO_IMAGE_MAX_BYTES = env.int("STUDIO_IMAGE_MAX_BYTES", default=20 * 1024 * 1024)
STUDIO_AUDIO_MAX_BYTES = env.int("STUDIO_AUDIO_MAX_BYTES", default=50 * 1024 * 1024)
STUDIO_VIDEO_MAX_BYTES = env.int("STUDIO_VIDEO_MAX_BYTES", default=200 * 1024 * 1024)
STUDIO_DOWNLOAD_TIMEOUT_SECONDS = env.float(
    "STUDIO_DOWNLOAD_TIMEOUT_SECONDS", default=60.0
)
# Lifetime of the signed asset links handed out with a job
STUDIO_ASSET_URL_SECONDS = env.int("STUDIO_ASSET_URL_SECONDS", default=900)
# GET /api/ai/jobs/{id}/events: how often it looks for changes, longest stream
STUDIO_SSE_POLL_SECONDS = env.float("STUDIO_SSE_POLL_SECONDS", default=1.0)
STUDIO_SSE_MAX_SECONDS = env.int("STUDIO_SSE_MAX_SECONDS", default=900)
# Celery queue of content jobs ("" = the default queue); a worker started with
# `-Q studio` then gives long media jobs workers of their own
STUDIO_TASK_QUEUE = env.str("STUDIO_TASK_QUEUE", default="")
# Generated files: local files under MEDIA_ROOT (var/media), or S3-compatible storage
# (django-storages) once a bucket is set
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="") or None
AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="") or None
AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="") or None
AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="") or None
AWS_S3_SIGNATURE_VERSION = env.str("AWS_S3_SIGNATURE_VERSION", default="s3v4")
AWS_DEFAULT_ACL = None
AWS_QUERYSTRING_AUTH = True
AWS_QUERYSTRING_EXPIRE = STUDIO_ASSET_URL_SECONDS
AWS_S3_FILE_OVERWRITE = False
STORAGES = {
    "default": {
        "BACKEND": "storages.backends.s3.S3Storage"
        if AWS_STORAGE_BUCKET_NAME
        else "django.core.files.storage.FileSystemStorage"
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Quotas ---
# Seconds a user's plan is cached on the hot path (writes invalidate it at once)
PLAN_CACHE_SECONDS = env.int("PLAN_CACHE_SECONDS", default=300)
QUOTA_ENFORCEMENT = env.bool("QUOTA_ENFORCEMENT", default=True)
QUOTA_RESERVATION_TTL_SECONDS = env.int("QUOTA_RESERVATION_TTL_SECONDS", default=900)
# Redis key prefix of quota counters, reservations and the usage-event buffer
QUOTA_REDIS_PREFIX = env.str("QUOTA_REDIS_PREFIX", default="fmk:q")
# Socket timeout of quota Redis calls; past it the database fallback takes over
QUOTA_REDIS_TIMEOUT_SECONDS = env.float("QUOTA_REDIS_TIMEOUT_SECONDS", default=1.0)
# After a Redis failure, use the database fallback for this long before retrying
QUOTA_REDIS_RETRY_SECONDS = env.float("QUOTA_REDIS_RETRY_SECONDS", default=5.0)
# Connections each web process's event loop may open to Redis for the AI path (quota
# scripts, cache reads); past it a call waits up to QUOTA_REDIS_TIMEOUT_SECONDS for a
# free one, then is refused (503, a busy Redis, not an outage). Keep it at least
# AI_MAX_CONCURRENT_REQUESTS + AI_ADMISSION_CONCURRENCY (the calls that may be
# talking to Redis at once) so every one gets a connection at once
REDIS_ASYNC_MAX_CONNECTIONS = env.int("REDIS_ASYNC_MAX_CONNECTIONS", default=256)
# After Redis fails or comes back empty, AI admissions answer 503 quota_unavailable
# this long (the longest an AI call runs), so no call Redis admitted is still unknown
# to the database when the fallback (or a re-seeded Redis) counts: never over-admits
QUOTA_FAILOVER_HOLD_SECONDS = env.float("QUOTA_FAILOVER_HOLD_SECONDS", default=120.0)
# Settling a call on the database retries on a new connection when the database
# dropped one, for up to USAGE_SETTLE_DB_RETRY_SECONDS (first backoff in seconds,
# doubling, at most 1 s)
USAGE_SETTLE_DB_RETRY_SECONDS = env.float("USAGE_SETTLE_DB_RETRY_SECONDS", default=10.0)
USAGE_SETTLE_DB_BACKOFF_SECONDS = env.float(
    "USAGE_SETTLE_DB_BACKOFF_SECONDS", default=0.05
)
# With Redis, usage records reach the database from a background writer per process
# (never on the request path): a batch every USAGE_RECORD_FLUSH_MS milliseconds, or
# at once when USAGE_RECORD_BATCH_MAX wait; at most USAGE_RECORD_QUEUE_MAX wait in
# memory (the oldest beyond are left to the Redis buffer's drain). 0 = no writer:
# each record is written at settle, inside the request (the test settings do that)
USAGE_RECORD_FLUSH_MS = env.int("USAGE_RECORD_FLUSH_MS", default=200)
USAGE_RECORD_BATCH_MAX = env.int("USAGE_RECORD_BATCH_MAX", default=500)
USAGE_RECORD_QUEUE_MAX = env.int("USAGE_RECORD_QUEUE_MAX", default=50_000)
# How often beat drains buffered usage events into the database / sweeps reservations
USAGE_DRAIN_INTERVAL_SECONDS = env.float("USAGE_DRAIN_INTERVAL_SECONDS", default=5.0)
QUOTA_SWEEP_INTERVAL_SECONDS = env.float("QUOTA_SWEEP_INTERVAL_SECONDS", default=60.0)

# Reset e-mails one account may receive per hour (0 = no cap)
PASSWORD_RESET_EMAILS_PER_HOUR = env.int("PASSWORD_RESET_EMAILS_PER_HOUR", default=5)
# Seconds between purges of expired refresh-token records and stale lockouts
TOKEN_FLUSH_INTERVAL_SECONDS = env.int("TOKEN_FLUSH_INTERVAL_SECONDS", default=86400)

# --- Celery beat: every periodic task, in one place (intervals are set above) ---
CELERY_BEAT_SCHEDULE = {
    "billing-reconcile-subscriptions": {
        "task": "billing.reconcile_subscriptions",
        "schedule": SUBSCRIPTION_RECONCILE_INTERVAL_SECONDS,
    },
    "webhooks-requeue-stale-events": {
        "task": "webhooks.requeue_stale_events",
        "schedule": WEBHOOK_STALE_AFTER_SECONDS,
    },
    "billing-expire-due-subscriptions": {
        "task": "billing.expire_due_subscriptions",
        "schedule": SUBSCRIPTION_EXPIRE_INTERVAL_SECONDS,
    },
    "ai-sweep-stale-jobs": {
        "task": "ai.jobs_sweep",
        "schedule": STUDIO_SWEEP_INTERVAL_SECONDS,
    },
    "usage-drain-events": {
        "task": "usage.drain_events",
        "schedule": USAGE_DRAIN_INTERVAL_SECONDS,
    },
    "usage-sweep-reservations": {
        "task": "usage.sweep_reservations",
        "schedule": QUOTA_SWEEP_INTERVAL_SECONDS,
    },
    "accounts-flush-expired-tokens": {
        "task": "accounts.flush_expired_tokens",
        "schedule": TOKEN_FLUSH_INTERVAL_SECONDS,
    },
}

# --- Queryable logs (/api/admin/logs) ---
# Keep recent log records in the database (buffered, written off the request path)
LOG_STORE_ENABLED = env.bool("LOG_STORE_ENABLED", default=True)
# Least severe level kept (DEBUG, INFO, WARNING, ERROR)
LOG_STORE_LEVEL = env.str("LOG_STORE_LEVEL", default="INFO")
# How often each process writes its buffer, seconds (0 = only on shutdown)
LOG_STORE_FLUSH_SECONDS = env.float("LOG_STORE_FLUSH_SECONDS", default=2.0)
# Records a process may hold unwritten; past it new records are dropped (counted)
LOG_STORE_BUFFER_SIZE = env.int("LOG_STORE_BUFFER_SIZE", default=10_000)
# Rows are kept this many hours, and at most this many rows
LOG_STORE_RETENTION_HOURS = env.int("LOG_STORE_RETENTION_HOURS", default=72)
LOG_STORE_MAX_ROWS = env.int("LOG_STORE_MAX_ROWS", default=200_000)
LOG_STORE_PRUNE_SECONDS = env.int("LOG_STORE_PRUNE_SECONDS", default=300)
LOG_STORE_MAX_MESSAGE_CHARS = env.int("LOG_STORE_MAX_MESSAGE_CHARS", default=4000)
# Share (0 to 1) of successful access lines (status < 400) also kept in the store;
# failed requests' lines are always kept, and stdout always gets every line
LOG_STORE_ACCESS_SAMPLE_RATE = env.float("LOG_STORE_ACCESS_SAMPLE_RATE", default=1.0)

# --- Logging: JSON lines on stdout ---
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_ACCESS = env.bool("LOG_ACCESS", default=True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_context": {"()": "flowmatik.jsonlog.RequestContextFilter"},
        "redact_secrets": {"()": "flowmatik.jsonlog.RedactSecretsFilter"},
    },
    "formatters": {"json": {"()": "flowmatik.jsonlog.JsonFormatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
            "filters": ["request_context"],
        },
        # Recent records kept queryable for /api/admin/logs (flowmatik/logstore.py)
        "store": {
            "()": "flowmatik.logstore.QueryableLogHandler",
            "level": LOG_STORE_LEVEL,
            "filters": ["request_context"],
        },
    },
    "root": {"handlers": ["stdout", "store"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
        # uvicorn formats these itself; the filter strips `?token=` and the like
        # (its WebSocket handshake line carries the query string at INFO).
        "uvicorn.error": {"filters": ["redact_secrets"]},
        "uvicorn.access": {"level": "WARNING", "filters": ["redact_secrets"]},
        "celery": {"level": LOG_LEVEL},
        # One line per task run is noise at INFO (beat runs short tasks often).
        "celery.app.trace": {
            "level": env.str("CELERY_TASK_LOG_LEVEL", default="WARNING")
        },
        "celery.worker.strategy": {"level": "WARNING"},
    },
}

# --- Staff API (/api/admin/*) ---
# How long /api/admin/health waits for Celery workers to answer a ping, seconds
ADMIN_HEALTH_WORKER_PING_SECONDS = env.float(
    "ADMIN_HEALTH_WORKER_PING_SECONDS", default=1.0
)
# /api/admin/health reports the disk under FLOWMATIK_VAR_DIR failing below this
ADMIN_HEALTH_DISK_MIN_FREE_PERCENT = env.float(
    "ADMIN_HEALTH_DISK_MIN_FREE_PERCENT", default=5.0
)

# --- Audit log (django-auditlog + flowmatik/audit.py) ---
# Model changes of these models are logged with the acting staff member
AUDITLOG_INCLUDE_TRACKING_MODELS = (
    {
        "model": "accounts.User",
        "include_fields": [
            "email",
            "name",
            "company",
            "is_active",
            "is_staff",
            "is_superuser",
            "date_joined",
        ],
    },
    {"model": "accounts.ApiKey", "exclude_fields": ["hashed_key", "last_used_at"]},
    {"model": "usage.QuotaOverride", "exclude_fields": ["updated_at"]},
    {"model": "billing.Plan", "exclude_fields": ["updated_at"]},
    {"model": "billing.Subscription", "exclude_fields": ["updated_at"]},
    {"model": "ai.AIModel"},
    {"model": "ai.AIProvider", "mask_fields": ["api_key"]},
)
# Every audit row carries the request id as its correlation id
AUDITLOG_CID_GETTER = "flowmatik.request_context.get_request_id"
AUDITLOG_DISABLE_REMOTE_ADDR = False

# --- Metrics (flowmatik/metrics): shared by every process ---
# Record request/AI/webhook/job metrics (one pipelined write per request)
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=True)
# Redis key prefix of the metric hashes (used when REDIS_URL is set)
METRICS_REDIS_PREFIX = env.str("METRICS_REDIS_PREFIX", default="fmk:metrics")
METRICS_REDIS_TIMEOUT_SECONDS = env.float("METRICS_REDIS_TIMEOUT_SECONDS", default=0.25)
# Request and AI-call metrics recorded on the event loop are summed per process
# and written every METRICS_FLUSH_MS ms (one write, not one per request; another
# process sees them within that); 0 = written within each request
METRICS_FLUSH_MS = env.int("METRICS_FLUSH_MS", default=1000)
# After a store failure, metrics are dropped for this long before retrying
METRICS_RETRY_SECONDS = env.float("METRICS_RETRY_SECONDS", default=5.0)
# Embedded default: the SQLite file every local process shares (not the app database)
METRICS_STORE_PATH = env.str(
    "METRICS_STORE_PATH", default=str(VAR_DIR / "metrics.sqlite3")
)
# How long minute and hour buckets are kept (the 5m/1h and 24h windows read them)
METRICS_MINUTE_RETENTION_SECONDS = env.int(
    "METRICS_MINUTE_RETENTION_SECONDS", default=2 * 3600
)
METRICS_HOUR_RETENTION_SECONDS = env.int(
    "METRICS_HOUR_RETENTION_SECONDS", default=26 * 3600
)
# Each process reports its CPU/memory this often (0 = never)
METRICS_PROCESS_REPORT_SECONDS = env.float(
    "METRICS_PROCESS_REPORT_SECONDS", default=15.0
)
# GET /metrics (Prometheus): a bearer token and/or client networks (CIDR) allowed;
# with neither set the endpoint answers 401 to everyone
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])

APP_VERSION = env.str("APP_VERSION", default="1.0.0")
SILENCED_SYSTEM_CHECKS = []
if not REDIS_URL:
    # django-ratelimit does not know diskcache; it is shared and its incr is atomic.
    SILENCED_SYSTEM_CHECKS += ["django_ratelimit.E003", "django_ratelimit.W001"]
HEALTH_CHECK_TIMEOUT_SECONDS = env.float("HEALTH_CHECK_TIMEOUT_SECONDS", default=2.0)
# Beat writes a heartbeat this often; /health reports beat failing past the max age
BEAT_HEARTBEAT_SECONDS = env.float("BEAT_HEARTBEAT_SECONDS", default=15.0)
BEAT_HEARTBEAT_MAX_AGE_SECONDS = env.float(
    "BEAT_HEARTBEAT_MAX_AGE_SECONDS", default=60.0
)

# --- ReasoningEngine (plan → draft → critique → revise; `reasoning: {"depth": n}`) ---
# Highest depth per plan slug (a plan not listed: none), e.g. free=0,starter=1,pro=2
AI_REASONING_MAX_DEPTH = env.dict(
    "AI_REASONING_MAX_DEPTH",
    cast={"value": int},
    default={"free": 0, "starter": 1, "pro": 2, "business": 3},
)
# Sections the plan step may outline (one draft call each); max_tokens of a step
AI_REASONING_MAX_SECTIONS = env.int("AI_REASONING_MAX_SECTIONS", default=5)
AI_REASONING_STEP_MAX_TOKENS = env.int("AI_REASONING_STEP_MAX_TOKENS", default=1_024)

# --- Workflows (plan feature `workflows`; /api/ai/workflows) ---
# Steps and inputs of one workflow, characters of a step's prompt template and of
# one input value, workflows one user may keep
WORKFLOW_MAX_STEPS = env.int("WORKFLOW_MAX_STEPS", default=8)
WORKFLOW_MAX_INPUTS = env.int("WORKFLOW_MAX_INPUTS", default=10)
WORKFLOW_MAX_TEMPLATE_CHARS = env.int("WORKFLOW_MAX_TEMPLATE_CHARS", default=4_000)
WORKFLOW_MAX_INPUT_CHARS = env.int("WORKFLOW_MAX_INPUT_CHARS", default=4_000)
WORKFLOW_MAX_PER_USER = env.int("WORKFLOW_MAX_PER_USER", default=50)

# --- Flowmatik as an MCP server (/mcp, Streamable HTTP, API-key bearer auth) ---
# How long a tool call waits for a job (reporting progress) before returning it
# as it stands, and how often it looks at the job meanwhile (seconds)
MCP_JOB_WAIT_SECONDS = env.float("MCP_JOB_WAIT_SECONDS", default=120.0)
MCP_JOB_POLL_SECONDS = env.float("MCP_JOB_POLL_SECONDS", default=0.5)
# Items a list tool returns at most, and messages of a conversation it shows
MCP_LIST_MAX_ITEMS = env.int("MCP_LIST_MAX_ITEMS", default=50)
MCP_CONVERSATION_MAX_MESSAGES = env.int("MCP_CONVERSATION_MAX_MESSAGES", default=200)
# Largest MCP request body (bytes)
MCP_MAX_REQUEST_BYTES = env.int("MCP_MAX_REQUEST_BYTES", default=4 * 1024 * 1024)
