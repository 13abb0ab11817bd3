"""Test settings: base settings made fast and quiet; backends still follow the env."""

import os

from flowmatik.settings.base import *  # noqa: F403
from flowmatik.settings.base import env

ENVIRONMENT = "test"
DEBUG = False
PASSWORD_HASHERS = [
    # Fast hashing for the suite; one test asserts Argon2 with the production list.
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LOG_LEVEL = env.str("LOG_LEVEL", default="WARNING")
LOGGING["root"]["level"] = LOG_LEVEL  # noqa: F405
ALLOWED_HOSTS = ["*"]
# Static files straight from the finders (no collectstatic before the suite); the
# production path is tested in flowmatik/tests/test_static.py
SERVESTATIC_USE_FINDERS = True
SERVESTATIC_AUTOREFRESH = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file (one per test process), not shared-cache memory: threads and the live
    # server then see SQLite's real locking (WAL + busy timeout), as on the default.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")  # noqa: F405
    }

# Metrics: a store file per test process, no reporter threads.
METRICS_STORE_PATH = str(VAR_DIR / f"test-{os.getpid()}-metrics.sqlite3")  # noqa: F405
METRICS_PROCESS_REPORT_SECONDS = 0.0
METRICS_REDIS_PREFIX = f"fmk:test-metrics:{os.getpid()}"

if CACHES["default"]["BACKEND"] == "diskcache.DjangoCache":  # noqa: F405
    # The embedded default's shared disk cache, one directory per test process.
    CACHES["default"]["LOCATION"] = str(VAR_DIR / f"test-{os.getpid()}-cache")  # noqa: F405

if not REDIS_URL:  # noqa: F405
    # The channel relay's registry, one per test process (no talk with a dev server).
    CHANNEL_LAYERS["default"]["CONFIG"]["relay_dir"] = str(  # noqa: F405
        VAR_DIR / f"test-{os.getpid()}-channels"  # noqa: F405
    )

# Unit tests of the quota fallback switch to the database at once; the fault tests
# (real processes) set their own hold (usage/tests/test_fault_redis.py).
QUOTA_FAILOVER_HOLD_SECONDS = 0.0

# Tests read task results from the in-process worker (celery.contrib.testing);
# the platform itself stores none.
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="cache+memory://")
# Queryable logs: off (tests that read them turn them on and flush by hand).
LOG_STORE_ENABLED = False
LOG_STORE_FLUSH_SECONDS = 0.0
# Usage records of the Redis settle path: written inside the request (no background
# writer thread that could not see a test's uncommitted rows); the writer's own tests
# and the real-process tests (base settings) run it.
USAGE_RECORD_FLUSH_MS = 0
