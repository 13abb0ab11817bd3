"""`.env.example` is complete (every variable the platform reads is listed, nothing
stale) and safe to copy (`cp .env.example .env` keeps the embedded default)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import uvicorn.config
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
EXAMPLE = BASE_DIR / ".env.example"

# Read in settings: env.str("NAME", ...), env.int(...), environ.Env().str(...)
_SETTINGS_RE = re.compile(r"\b[Ee]nv(?:\(\))?(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]*)\"")
# ... and families built from a prefix: env.str(f"STRIPE_PRICE_{slug.upper()}")
_PREFIX_RE = re.compile(r"\b[Ee]nv(?:\.\w+)?\(\s*f\"([A-Z][A-Z0-9_]*)\{")
# Shell (Makefile's $${NAME...}, scripts' ${NAME...}) and compose's ${NAME...}
_SHELL_RE = re.compile(r"\$\$?\{([A-Z][A-Z0-9_]*)")
_EXAMPLE_RE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.M)
# Variables of the shell or the tools themselves, not of the platform.
_NOT_OURS = {"HOME", "PATH", "HOSTNAME", "CI", "DEBIAN_FRONTEND"}


def _read(pattern: re.Pattern, paths) -> set[str]:
    names: set[str] = set()
    for path in paths:
        names |= set(pattern.findall(path.read_text()))
    return names


def _settings_files() -> list[Path]:
    return sorted((BASE_DIR / "flowmatik" / "settings").glob("*.py"))


def _shell_files() -> list[Path]:
    files = [BASE_DIR / "Makefile", BASE_DIR / "Dockerfile"]
    files += sorted((BASE_DIR / "scripts").glob("*.sh"))
    files += sorted(BASE_DIR.glob("docker-compose*.yml"))
    return [p for p in files if p.exists()]


def _uvicorn_reads() -> set[str]:
    source = Path(uvicorn.config.__file__).read_text()
    return set(re.findall(r"os\.environ(?:\.get\(|\[)\s*\"([A-Z][A-Z0-9_]*)\"", source))


def _listed() -> set[str]:
    return set(_EXAMPLE_RE.findall(EXAMPLE.read_text()))


def _read_by_the_platform() -> set[str]:
    return (
        _read(_SETTINGS_RE, _settings_files())
        | _read(_SHELL_RE, _shell_files())
        | _uvicorn_reads()
    ) - _NOT_OURS


def test_every_variable_the_platform_reads_is_in_env_example():
    read = _read_by_the_platform()
    assert {"WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS", "API_PAGE_SIZE"} <= read
    missing = sorted(read - _listed())
    assert missing == [], f"add to .env.example, with a comment: {missing}"


def test_every_prefix_family_has_its_members_listed():
    listed = _listed()
    for prefix in _read(_PREFIX_RE, _settings_files()):
        assert any(name.startswith(prefix) for name in listed), prefix


def test_env_example_lists_nothing_that_nothing_reads():
    read = _read_by_the_platform()
    prefixes = _read(_PREFIX_RE, _settings_files())
    stale = sorted(
        name
        for name in _listed() - read
        if not any(name.startswith(prefix) for prefix in prefixes)
    )
    assert stale == [], f"nothing reads these: {stale}"


def test_every_variable_has_a_comment_above_it():
    lines = EXAMPLE.read_text().splitlines()
    uncommented = []
    for index, line in enumerate(lines):
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=", line)
        if not match:
            continue
        above = index - 1
        while above >= 0 and re.match(r"^#?\s*[A-Z][A-Z0-9_]*=", lines[above]):
            above -= 1  # a group of related variables shares one comment
        if above < 0 or not lines[above].startswith("#"):
            uncommented.append(match.group(1))
    assert uncommented == []


def test_copying_env_example_sets_nothing():
    """Every assignment is commented out: a copied file changes no default."""
    active = [
        line
        for line in EXAMPLE.read_text().splitlines()
        if re.match(r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*=", line)
    ]
    assert active == []


def test_every_line_is_a_comment_or_blank():
    """Nothing else (a stray word, a merge-conflict marker) reaches a dotenv parser."""
    stray = [
        line
        for line in EXAMPLE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert stray == []


def test_copied_env_example_keeps_make_run_on_the_embedded_default(tmp_path):
    """Settings loaded with .env.example as the .env: SQLite, no Redis, console
    e-mail, no payment or AI provider keys (so the demo model answers)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key in {"PATH", "HOME", "LANG", "PYTHONPATH"}
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "flowmatik.settings.base",
            "FLOWMATIK_ENV_FILE": str(EXAMPLE),
            "FLOWMATIK_VAR_DIR": str(tmp_path),
        }
    )
    probe = (
        "import json, django; django.setup(); from django.conf import settings as s;"
        "print(json.dumps({'db': s.DATABASES['default']['ENGINE'],"
        "'redis': s.REDIS_URL,"
        "'broker': s.CELERY_BROKER_URL, 'email': s.EMAIL_BACKEND,"
        "'stripe': s.STRIPE_SECRET_KEY, 'ls': s.LEMONSQUEEZY_API_KEY,"
        "'ai': [s.SILICONFLOW_API_KEY, s.DOUBAO_API_KEY, s.OPENAI_API_KEY],"
        "'debug': s.DEBUG}))"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", probe],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {
        "db": "django.db.backends.sqlite3",
        "redis": "",
        "broker": "filesystem://localhost//",
        "email": "django.core.mail.backends.console.EmailBackend",
        "stripe": "",
        "ls": "",
        "ai": ["", "", ""],
        "debug": True,
    }
