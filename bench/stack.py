"""What the bench runs on loopback: upstream, platform, Redis, Celery worker, LiteLLM.

`Stack` starts, in a scratch folder, the zero-latency upstream (`bench.upstream`),
a private Redis when asked (`--redis-url auto`), prepares the database (a given
MySQL/MariaDB one, migrated; else an embedded SQLite copied from a migrated template
kept in `var/bench/`), creates the bench's users, and starts the platform under the
production ASGI command (the Dockerfile's: uvicorn with `WEB_CONCURRENCY` workers,
`--lifespan on --proxy-headers --no-access-log`, production settings). Everything is
stopped when the `with` block ends, whatever happens.
"""

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from flowmatik.testing.process_control import (
    free_port,
    process_signal,
    process_start,
    process_wait,
    wait_log,
    wait_port,
)

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
WEBHOOK_SECRET = "whsec_bench_" + secrets.token_hex(8)
# Flags of the Dockerfile's CMD (a test keeps the two the same); the host is
# loopback here.
PRODUCTION_FLAGS = (
    "--lifespan",
    "on",
    "--proxy-headers",
    "--no-access-log",
    "--ws-per-message-deflate",
    "false",
)
_READY = re.compile(r"\bready\b")  # the Celery worker's start-up line


def rss_kb(pid: int) -> int:
    """Resident set size of one process, from /proc (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found.extend(int(p) for p in text)
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def migration_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    digest.update((ROOT / "requirements.txt").read_bytes())
    return digest.hexdigest()[:16]


SETUP_SCRIPT = """
import json, secrets
from datetime import timedelta
from django.utils import timezone
from accounts.credentials import api_key_hash
from accounts.models import ApiKey, User
from billing.models import Plan, Subscription
from usage.models import QuotaOverride

run = secrets.token_hex(4)
business = Plan.objects.get(slug="business")

def customer(name, *, requests_per_day=None):
    user = User.objects.create_user(
        email=f"bench-{name}-{run}@example.com", password=secrets.token_hex(16)
    )
    # A live Business subscription: API access, like a paying customer's.
    Subscription.objects.create(
        user=user, plan=business, provider="stripe",
        external_id=f"sub_bench_{name}_{run}", status="active", live_user=user.pk,
        current_period_end=timezone.now() + timedelta(days=30),
    )
    if requests_per_day is not None:
        QuotaOverride.objects.create(
            user=user, requests_per_day=requests_per_day, reason="bench admission"
        )
    raw = "fmk_bench_" + secrets.token_hex(16)
    ApiKey.objects.create(
        user=user, name="bench", prefix=raw[4:14], hashed_key=api_key_hash(raw)
    )
    return raw

spec = json.loads(SPEC)
print(json.dumps({
    "run": run,
    "api_key": customer("main"),
    "limited": [
        customer(f"limited{i}", requests_per_day=spec["limit"])
        for i in range(spec["limited_users"])
    ],
}))
"""


@dataclass
class Options:
    workers: int = 2
    database_url: str = ""
    redis_url: str = ""  # "auto": start a private redis-server on a free port
    migrate: bool = True
    latency_ms: float = 0.0
    chunk_gap_ms: float = 0.0
    chunks: int = 32
    litellm_bin: str = ""
    admission_limit: int = 100
    limited_users: int = 1


@dataclass
class Stack:
    options: Options
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    upstream: str = ""
    base: str = ""
    litellm: str = ""
    litellm_error: str = ""
    redis_url: str = ""
    web: subprocess.Popen | None = None
    api_key: str = ""
    limited_keys: list[str] = field(default_factory=list)
    run_id: str = ""
    counters_dir: Path = field(default_factory=Path)
    _procs: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    # --- processes ---
    def spawn(self, name: str, command: list[str], env=None) -> subprocess.Popen:
        process = process_start(
            command,
            log=self.workdir / f"{name}.log",
            cwd=ROOT,
            env=env or self.env,
            new_session=True,
        )
        self._procs.append((name, process))
        return process

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def stop_all(self) -> None:
        # SIGTERM to all first, so that they stop side by side within one deadline
        for _, process in reversed(self._procs):
            if process.poll() is None:
                process_signal(process, signal.SIGTERM, group=True)
        deadline = time.monotonic() + 15
        for _, process in reversed(self._procs):
            timeout = max(0.1, deadline - time.monotonic())
            process_wait(process, timeout=timeout, group=True)

    def server_pids(self) -> list[int]:
        """The uvicorn supervisor and its worker processes."""
        if self.web is None:
            return []
        return [self.web.pid, *children(self.web.pid)]

    def worker_pids(self) -> list[int]:
        """The uvicorn workers (not multiprocessing's resource tracker)."""
        if self.web is None:
            return []
        return [
            pid
            for pid in children(self.web.pid)
            if b"spawn_main" in _cmdline(pid) or b"uvicorn" in _cmdline(pid)
        ]

    def rss(self) -> dict[str, int]:
        """RSS in KB of every server process (supervisor and workers)."""
        return {str(pid): rss_kb(pid) for pid in self.server_pids()}

    def counters(self) -> dict[str, int]:
        """Database queries and Redis round trips of the web workers (request path
        and background threads apart), summed."""
        time.sleep(0.3)  # the writers flush every 100 ms
        total = {
            "queries": 0,
            "background_queries": 0,
            "redis_round_trips": 0,
            "background_redis_round_trips": 0,
        }
        for pid in self.worker_pids():
            path = self.counters_dir / f"{pid}.json"
            if path.exists():
                for key, value in json.loads(path.read_text()).items():
                    total[key] = total.get(key, 0) + value
        return total

    def trace(self, on: bool) -> None:
        """Start or stop the workers' trace of each query and Redis round trip
        (`bench/instrument/sitecustomize.py`); stopping waits for the last lines."""
        switch = self.counters_dir / "trace-on"
        if on:
            for old in self.counters_dir.glob("*.trace.jsonl"):
                old.unlink()
            switch.touch()
        else:
            switch.unlink(missing_ok=True)
        time.sleep(0.3)  # the writers look every 100 ms

    def trace_lines(self) -> list[dict]:
        """What the workers traced (see `trace`)."""
        lines: list[dict] = []
        for path in self.counters_dir.glob("*.trace.jsonl"):
            lines += [json.loads(line) for line in path.read_text().splitlines()]
        return lines

    # --- setup ---
    def _start_upstream(self) -> None:
        port = free_port()
        process = self.spawn(
            "upstream",
            [
                PYTHON,
                "-m",
                "bench.upstream",
                "--port",
                str(port),
                "--latency-ms",
                str(self.options.latency_ms),
                "--chunk-gap-ms",
                str(self.options.chunk_gap_ms),
                "--chunks",
                str(self.options.chunks),
            ],
            env={**os.environ},
        )
        wait_port(port, process, "the upstream")
        self.upstream = f"http://127.0.0.1:{port}"

    def _start_redis(self) -> None:
        if self.options.redis_url != "auto":
            self.redis_url = self.options.redis_url
            return
        if not shutil.which("redis-server"):
            raise RuntimeError("--redis-url auto needs redis-server on PATH")
        port = free_port()
        process = self.spawn(
            "redis",
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            env={**os.environ},
        )
        wait_port(port, process, "redis-server")
        self.redis_url = f"redis://127.0.0.1:{port}/0"

    def _base_env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "flowmatik.settings.production",
            "SECRET_KEY": secrets.token_urlsafe(40),
            "JWT_SECRET": secrets.token_urlsafe(40),
            "SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback, no TLS proxy
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "FLOWMATIK_VAR_DIR": str(self.workdir / "var"),
            "FLOWMATIK_READ_DOT_ENV": "false",
            "AI_DEMO_BASE_URL": f"{self.upstream}/v1",
            "RATELIMIT_AI_PER_USER": "100000000/m",
            "RATELIMIT_AI_PER_IP": "100000000/m",
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "WEB_CONCURRENCY": str(self.options.workers),
        }
        # Never a real provider, and never the caller's own database or Redis: the
        # bench migrates and writes only to what it is given.
        for name in (
            "SILICONFLOW_API_KEY",
            "DOUBAO_API_KEY",
            "OPENAI_API_KEY",
            "DATABASE_URL",
            "REDIS_URL",
            "CELERY_BROKER_URL",
            "CELERY_RESULT_BACKEND",
            "PYTHONPATH",
        ):
            env.pop(name, None)
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        return env

    def _manage(self, *args: str, env=None, capture=False) -> str:
        out = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=env or self.env,
            check=False,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if out.returncode != 0:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{out.stderr[-3000:]}")
        return out.stdout if capture else ""

    def _prepare_database(self) -> None:
        url = self.options.database_url
        if url:
            if url.startswith("mysql"):
                _mysql_create_database(url)
            self.env["DATABASE_URL"] = url
            if self.options.migrate:
                self._manage("migrate", "--noinput", "-v0")
            return
        # Embedded: a migrated SQLite template, made once per set of migrations.
        cache = ROOT / "var" / "bench"
        template = cache / f"template-{migration_fingerprint()}.sqlite3"
        if not template.exists():
            cache.mkdir(parents=True, exist_ok=True)
            partial = cache / f"partial-{os.getpid()}.sqlite3"
            print(f"bench: migrating a template database once ({template.name})")
            self._manage(
                "migrate",
                "--noinput",
                "-v0",
                env={**self.env, "DATABASE_URL": f"sqlite:///{partial}"},
            )
            partial.replace(template)
        target = self.workdir / "bench.sqlite3"
        shutil.copyfile(template, target)
        self.env["DATABASE_URL"] = f"sqlite:///{target}"

    def _create_users(self) -> None:
        spec = json.dumps(
            {
                "limit": self.options.admission_limit,
                "limited_users": self.options.limited_users,
            }
        )
        script = f"SPEC = {spec!r}\n" + SETUP_SCRIPT
        out = self._manage("shell", "-c", script, capture=True)
        data = json.loads(out.strip().splitlines()[-1])
        self.api_key, self.limited_keys, self.run_id = (
            data["api_key"],
            data["limited"],
            data["run"],
        )

    def _start_platform(self) -> None:
        port = free_port()
        self.counters_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **self.env,
            "PYTHONPATH": str(ROOT / "bench" / "instrument"),
            "BENCH_COUNTERS_DIR": str(self.counters_dir),
        }
        self.web = self.spawn(
            "web",
            [
                PYTHON,
                "-m",
                "uvicorn",
                "flowmatik.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(self.options.workers),
                *PRODUCTION_FLAGS,
                "--forwarded-allow-ips",
                "127.0.0.1",
            ],
            env=env,
        )
        wait_port(port, self.web, "the platform (web.log)")
        self.base = f"http://127.0.0.1:{port}"
        # Every worker has started (they share the socket; the port answers early).
        workers = self.options.workers
        if not wait_log(
            self.web,
            self.workdir / "web.log",
            lambda log: log.count("Application startup complete") >= workers,
            timeout=120,
        ):
            raise RuntimeError(f"the platform did not start:\n{self.log_tail('web')}")

    def start_celery_worker(self) -> subprocess.Popen:
        process = self.spawn(
            "celery",
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "flowmatik",
                "worker",
                "--loglevel=INFO",
                "--concurrency=2",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"bench-{self.run_id}@%h",
            ],
        )
        if wait_log(process, self.workdir / "celery.log", _READY.search, timeout=90):
            return process
        raise RuntimeError(
            f"the Celery worker did not start:\n{self.log_tail('celery')}"
        )

    def _start_litellm(self) -> None:
        if not self.options.litellm_bin:
            return
        port = free_port()
        config = self.workdir / "litellm.yaml"
        config.write_text(
            "model_list:\n"
            "  - model_name: flowmatik-demo\n"
            "    litellm_params:\n"
            "      model: openai/flowmatik-demo\n"
            f"      api_base: {self.upstream}/v1\n"
            "      api_key: bench\n"
            "litellm_settings:\n"
            "  telemetry: false\n"
        )
        # No access log, as the platform's --no-access-log
        log_config = self.workdir / "litellm-logging.json"
        log_config.write_text(
            json.dumps(
                {
                    "version": 1,
                    "disable_existing_loggers": False,
                    "loggers": {
                        "uvicorn.access": {"level": "WARNING", "propagate": False}
                    },
                }
            )
        )
        env = {
            **os.environ,
            "LITELLM_LOG": "ERROR",
            "LITELLM_TELEMETRY": "False",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no network fetch at start
        }
        for name in ("DATABASE_URL", "REDIS_URL", "PYTHONPATH"):
            env.pop(name, None)
        process = self.spawn(
            "litellm",
            [
                self.options.litellm_bin,
                "--config",
                str(config),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--num_workers",
                str(self.options.workers),
                # uvicorn's default 5 s lets a loaded machine kill workers that are
                # still importing, forever
                "--timeout_worker_healthcheck",
                "120",
                "--log_config",
                str(log_config),
            ],
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            if _chat_ok(f"{base}/v1/chat/completions"):
                self.litellm = base
                return
            time.sleep(1.0)
        # The comparison is optional: the run goes on without it, and says so.
        self.litellm_error = "LiteLLM Proxy did not answer (litellm.log):\n" + (
            self.log_tail("litellm", 1500)
        )
        print(f"bench: {self.litellm_error}", file=sys.stderr)

    def __enter__(self) -> "Stack":
        self.counters_dir = self.workdir / "counters"
        (self.workdir / "var").mkdir(parents=True, exist_ok=True)
        try:
            self._start_upstream()
            self._start_redis()
            self.env = self._base_env()
            self._prepare_database()
            self._create_users()
            self._start_platform()
            self._start_litellm()
        except BaseException:
            self.stop_all()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()


def _chat_ok(url: str) -> bool:
    body = json.dumps(
        {"model": "flowmatik-demo", "messages": [{"role": "user", "content": "hi"}]}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
        url, data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status == 200
    except (OSError, ValueError):
        return False


def _mysql_create_database(url: str) -> None:
    """CREATE DATABASE IF NOT EXISTS for the given (scratch) database."""
    import MySQLdb

    parts = urlsplit(url)
    connection = MySQLdb.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
    )
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise ValueError(f"unexpected database name {name!r}")
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE DATABASE IF NOT EXISTS `{name}` "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
    connection.close()
