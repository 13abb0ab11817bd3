"""Settings: the embedded default with no environment; DATABASE_URL/REDIS_URL switch it.

Each case imports the settings in a fresh interpreter with a controlled environment,
exactly as `manage.py` would.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json
from django.conf import settings
import django
django.setup()
from flowmatik.celery import app
print(json.dumps({
    "db_engine": settings.DATABASES["default"]["ENGINE"],
    "db_name": str(settings.DATABASES["default"]["NAME"]),
    "db_host": settings.DATABASES["default"].get("HOST", ""),
    "cache": settings.CACHES["default"]["BACKEND"],
    "channels": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "broker": app.conf.broker_url,
    "email": settings.EMAIL_BACKEND,
    "debug": settings.DEBUG,
    "acks_late": app.conf.task_acks_late,
    "reject_on_worker_lost": app.conf.task_reject_on_worker_lost,
    "prefetch": app.conf.worker_prefetch_multiplier,
    "visibility_timeout": app.conf.broker_transport_options["visibility_timeout"],
    "time_limit": app.conf.task_time_limit,
    "serializer": app.conf.task_serializer,
    "hsts": getattr(settings, "SECURE_HSTS_SECONDS", 0),
    "ssl_redirect": getattr(settings, "SECURE_SSL_REDIRECT", False),
}))
"""


def _settings(module: str, tmp_path, **env_vars) -> dict:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": module,
        "FLOWMATIK_VAR_DIR": str(tmp_path / "var"),
        "FLOWMATIK_READ_DOT_ENV": "false",
        **env_vars,
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter and probe
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        return {"error": result.stderr}
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_no_environment_runs_on_the_embedded_default(tmp_path):
    values = _settings("flowmatik.settings.base", tmp_path)
    assert values["db_engine"] == "django.db.backends.sqlite3"
    assert values["db_name"] == str(tmp_path / "var" / "flowmatik.sqlite3")
    assert values["cache"] == "diskcache.DjangoCache"  # shared by local processes
    assert values["channels"] == "flowmatik.channel_relay.RelayChannelLayer"
    assert values["broker"].startswith("filesystem://")
    assert values["email"].endswith("console.EmailBackend")
    assert values["debug"] is True


def test_database_url_and_redis_url_switch_to_the_production_stack(tmp_path):
    values = _settings(
        "flowmatik.settings.base",
        tmp_path,
        DATABASE_URL="mysql://app:pw@db.internal:3306/flowmatik",
        REDIS_URL="redis://cache.internal:6379/2",
    )
    assert values["db_engine"] == "django.db.backends.mysql"
    assert values["db_host"] == "db.internal"
    # django-redis, with per-process copies kept exact by Redis (flowmatik.cache_local)
    assert values["cache"] == "flowmatik.cache_local.LocallyCopiedRedisCache"
    assert values["channels"].endswith("RedisChannelLayer")
    assert values["broker"] == "redis://cache.internal:6379/2"


def test_celery_settings_lose_no_task(tmp_path):
    values = _settings("flowmatik.settings.base", tmp_path)
    assert values["acks_late"] is True
    assert values["reject_on_worker_lost"] is True
    assert values["prefetch"] == 1
    assert values["serializer"] == "json"
    assert values["visibility_timeout"] > values["time_limit"]


@pytest.mark.parametrize("missing", ["SECRET_KEY", "JWT_SECRET"])
def test_production_refuses_to_start_without_secrets(tmp_path, missing):
    env = {
        "SECRET_KEY": "s" * 50,
        "JWT_SECRET": "j" * 50,
        "ALLOWED_HOSTS": "example.com",
    }
    del env[missing]
    values = _settings("flowmatik.settings.production", tmp_path, **env)
    assert "ImproperlyConfigured" in values["error"]
    assert missing in values["error"]


def test_production_is_https_only_with_hsts(tmp_path):
    values = _settings(
        "flowmatik.settings.production",
        tmp_path,
        SECRET_KEY="s" * 50,
        JWT_SECRET="j" * 50,
        ALLOWED_HOSTS="example.com",
    )
    assert values["debug"] is False
    assert values["hsts"] >= 31536000
    assert values["ssl_redirect"] is True


def _run(code: str, tmp_path, **env_vars) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "flowmatik.settings.base",
        "FLOWMATIK_VAR_DIR": str(tmp_path / "var"),
        "FLOWMATIK_READ_DOT_ENV": "false",
        **env_vars,
    }
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


def test_importing_settings_makes_no_folder_and_startup_makes_the_needed_ones(
    tmp_path,
):
    var = tmp_path / "var"
    _run("import flowmatik.settings.base", tmp_path)
    assert not var.exists()
    _run("import django; django.setup()", tmp_path)
    assert (var / "celery" / "queue").is_dir()
    assert (var / "celery" / "processed").is_dir()
    assert sorted(p.name for p in var.iterdir()) == ["celery"]  # no stray files


def test_startup_on_the_production_stack_makes_no_local_folder(tmp_path):
    _run(
        "import django; django.setup()",
        tmp_path,
        DATABASE_URL="mysql://app:pw@db.internal:3306/flowmatik",
        REDIS_URL="redis://cache.internal:6379/2",
    )
    assert not (tmp_path / "var").exists()


def test_every_beat_entry_runs_a_registered_task_on_a_positive_interval(settings):
    from flowmatik.celery import app

    app.loader.autodiscover_tasks(settings.INSTALLED_APPS)  # what a worker imports
    assert app.conf.beat_schedule == settings.CELERY_BEAT_SCHEDULE
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, name
        assert float(entry["schedule"]) > 0, name
