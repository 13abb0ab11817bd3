"""The container files, checked statically, and the image's commands run for real.

No Docker engine runs here, so the commands the image and compose would run
(migrate, the web CMD and its HEALTHCHECK, the worker and its health check, beat,
the demo model) are run outside Docker, as processes with production settings and
compose's environment, against MariaDB and Redis, with compose's service host names
pointed at the local ones.
"""

import fnmatch
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
VENV_BIN = Path(sys.executable).parent  # where uvicorn, celery and python live


def _compose() -> dict:
    return yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())


def _dockerfile() -> str:
    return (BASE_DIR / "Dockerfile").read_text()


def _dockerfile_instruction(name: str) -> str:
    """The (last) instruction `name`, continuation lines joined."""
    text = _dockerfile().replace("\\\n", " ")
    found = re.findall(rf"^{name}\s+(.*)$", text, re.M)
    assert found, name
    return found[-1]


# --- Static checks -------------------------------------------------------------------


def test_dockerignore_keeps_secrets_state_and_history_out_of_the_image():
    patterns = [
        line.strip()
        for line in (BASE_DIR / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        result = False
        for pattern in patterns:
            negate = pattern.startswith("!")
            core = pattern.lstrip("!").removeprefix("**/")
            if fnmatch.fnmatch(path, core) or fnmatch.fnmatch(path.split("/")[0], core):
                result = not negate
        return result

    for path in (".env", ".env.local", ".venv", "var", ".git", "staticfiles"):
        assert ignored(path), path
    for path in (".env.example", "manage.py", "requirements.txt", "flowmatik"):
        assert not ignored(path), path


def test_compose_runs_what_ci_tests_with_env_file_media_and_a_demo_model():
    compose = _compose()
    services = compose["services"]
    assert services["mariadb"]["image"].startswith("mariadb:")
    assert "mysql" not in services
    app = compose["x-app"]
    assert app["env_file"] == ".env"
    assert "media:/app/var/media" in app["volumes"]
    assert "media" in compose["volumes"]
    assert app["environment"]["MEDIA_ROOT"] == "/app/var/media"
    assert "demo-model" in services
    demo_url = urlsplit(app["environment"]["AI_DEMO_BASE_URL"])
    assert demo_url.hostname == "demo-model"
    assert str(demo_url.port) in services["demo-model"]["command"]
    for name in ("migrate", "web", "worker", "beat"):
        assert services[name]["env_file"] == ".env", name


def test_the_health_checks_ask_loopback_which_production_always_allows():
    assert "http://127.0.0.1:${PORT}/health" in _dockerfile_instruction("HEALTHCHECK")
    web_check = _compose()["services"]["web"]["healthcheck"]["test"]
    assert "http://127.0.0.1:8000/health" in web_check
    production = (BASE_DIR / "flowmatik" / "settings" / "production.py").read_text()
    assert '"127.0.0.1"' in production


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="needs docker-compose")
def test_docker_compose_accepts_the_file_with_a_copied_env_example(tmp_path):
    shutil.copy(BASE_DIR / "docker-compose.yml", tmp_path)
    shutil.copy(BASE_DIR / ".env.example", tmp_path / ".env")
    env = {**os.environ, "SECRET_KEY": "x" * 50, "JWT_SECRET": "y" * 50}
    subprocess.run(
        ["docker-compose", "config", "-q"],  # noqa: S607
        cwd=tmp_path,
        env=env,
        check=True,
        timeout=60,
    )


# --- The commands, run for real ------------------------------------------------------

needs_services = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("mysql")
    or not os.environ.get("REDIS_URL"),
    reason="runs the container commands on MariaDB + Redis (CI)",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _resolve(value: str, given: dict[str, str]) -> str:
    """compose's ${NAME}, ${NAME:-default} and ${NAME:?error} interpolation."""

    def one(match: re.Match) -> str:
        name, op, rest = match.group(1), match.group(2) or "", match.group(3) or ""
        if name in given:
            return given[name]
        if op == ":?":
            raise AssertionError(f"compose needs {name}: {rest}")
        return rest

    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}", one, str(value))


@pytest.fixture
def scratch_database(transactional_db):
    """The test database (already migrated: `migrate` then has nothing to apply,
    which still runs the image's command), emptied after the test."""
    from flowmatik.testing.processes import database_url_of_tests

    return database_url_of_tests()


class Processes:
    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir, self.env, self.running = workdir, env, []

    def run(self, argv: list[str], *, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603 - the image's own commands
            argv,
            cwd=BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, name: str, argv: list[str]) -> tuple[subprocess.Popen, Path]:
        log = self.workdir / f"{name}.log"
        out = log.open("wb")
        process = subprocess.Popen(  # noqa: S603 - the image's own commands
            argv, cwd=BASE_DIR, env=self.env, stdout=out, stderr=subprocess.STDOUT
        )
        self.running.append((process, out))
        return process, log

    def stop(self) -> None:
        for process, out in reversed(self.running):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            out.close()


def _until(check, *, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            detail = log.read_text(errors="replace")[-3000:] if log else ""
            raise AssertionError(f"{what} did not happen in {timeout} s\n{detail}")
        time.sleep(0.5)


@needs_services
@pytest.mark.timeout(900)
def test_the_images_commands_run_with_production_settings_and_composes_environment(
    scratch_database, tmp_path
):
    compose = _compose()
    services = compose["services"]
    web_port, demo_port = _free_port(), _free_port()
    given = {
        "SECRET_KEY": "container-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "JWT_SECRET": "container-test-jwt-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
    }
    # The image's ENV, then compose's environment (as compose would interpolate it).
    env = {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "HOSTNAME": socket.gethostname(),
        "FLOWMATIK_READ_DOT_ENV": "false",  # .env is compose's env_file, given here
    }
    image_env = re.findall(r"(\w+)=(\S+)", _dockerfile_instruction("ENV"))
    env.update(dict(image_env))
    env.update(
        {
            key: _resolve(value, given)
            for key, value in compose["x-app"]["environment"].items()
        }
    )
    assert env["DJANGO_SETTINGS_MODULE"] == "flowmatik.settings.production"
    assert env["ALLOWED_HOSTS"] == "localhost"
    # compose's service names -> this machine's services, container paths -> tmp.
    env["DATABASE_URL"] = scratch_database
    env["REDIS_URL"] = os.environ["REDIS_URL"]
    env["AI_DEMO_BASE_URL"] = f"http://127.0.0.1:{demo_port}/v1"
    env["FLOWMATIK_VAR_DIR"] = str(tmp_path / "var")
    env["MEDIA_ROOT"] = str(tmp_path / "var" / "media")
    env["PORT"] = str(web_port)
    env["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]
    env["CHANNELS_PREFIX"] = f"fmk-container-{uuid.uuid4().hex[:6]}"
    env["QUOTA_REDIS_PREFIX"] = f"fmk:container:{uuid.uuid4().hex[:6]}"
    env["CACHE_KEY_PREFIX"] = f"fmk-container-{uuid.uuid4().hex[:6]}"

    def container_path(argv: list[str]) -> list[str]:
        """compose's interpolation, and container paths moved under tmp."""
        return [
            _resolve(arg, given).replace("/app/var", env["FLOWMATIK_VAR_DIR"])
            for arg in argv
        ]

    procs = Processes(tmp_path, env)
    try:
        migrate = procs.run(container_path(services["migrate"]["command"]), timeout=600)
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr

        demo_argv = container_path(services["demo-model"]["command"])
        demo_argv[demo_argv.index("--port") + 1] = str(demo_port)
        demo_argv[demo_argv.index("--host") + 1] = "127.0.0.1"
        _, demo_log = procs.start("demo-model", demo_argv)

        # The web container's CMD, as the image runs it (sh -c, with $PORT).
        cmd = yaml.safe_load(_dockerfile_instruction("CMD"))
        _, web_log = procs.start("web", cmd)
        healthcheck = _dockerfile_instruction("HEALTHCHECK").split(" CMD ", 1)[1]
        _until(
            lambda: procs.run(["sh", "-c", healthcheck], timeout=30).returncode == 0,
            timeout=90,
            what="the image's HEALTHCHECK passing",
            log=web_log,
        )

        worker, worker_log = procs.start(
            "worker", container_path(services["worker"]["command"])
        )
        beat, beat_log = procs.start(
            "beat", container_path(services["beat"]["command"])
        )
        ping = services["worker"]["healthcheck"]["test"][1].replace("$$", "$")
        _until(
            lambda: procs.run(["sh", "-c", ping], timeout=60).returncode == 0,
            timeout=120,
            what="the worker's health check passing",
            log=worker_log,
        )

        # Keyless start: a user's chat is answered by the demo-model service.
        base = f"http://127.0.0.1:{web_port}"
        https = {"X-Forwarded-Proto": "https", "Host": "localhost"}
        with httpx.Client(base_url=base, headers=https, timeout=60) as http:
            _until(
                lambda: http.get(f"http://127.0.0.1:{demo_port}/v1/models").is_success,
                timeout=30,
                what="the demo model answering",
                log=demo_log,
            )
            email, password = f"{uuid.uuid4().hex[:8]}@example.com", "Str0ng-pass-42!"
            registered = http.post(
                "/api/auth/register", json={"email": email, "password": password}
            )
            assert registered.status_code == 201, registered.text
            login = http.post(
                "/api/auth/login", json={"email": email, "password": password}
            )
            assert login.status_code == 200, login.text
            token = login.json()["access"]
            chat = http.post(
                "/api/ai/chat",
                json={"message": "hello from the container test", "max_tokens": 16},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert chat.status_code == 200, chat.text
            assert "Local demo model" in chat.json()["reply"]

        assert worker.poll() is None, worker_log.read_text()[-3000:]
        time.sleep(3)
        assert beat.poll() is None, beat_log.read_text()[-3000:]
        assert "Traceback" not in beat_log.read_text()
    finally:
        procs.stop()


def test_shlex_is_not_needed_for_the_cmd():
    """The CMD is exec-form JSON (sh -c ...): no shell parsing surprises."""
    cmd = yaml.safe_load(_dockerfile_instruction("CMD"))
    assert cmd[:2] == ["sh", "-c"]
    assert shlex.split(cmd[2])[:2] == ["exec", "uvicorn"]
