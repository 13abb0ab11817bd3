"""`manage.py reset_db` (what `make reset-db` runs before migrating again) drops every
table, foreign keys included, on SQLite and on MySQL/MariaDB, and refuses when DEBUG
is off unless forced."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from flowmatik.testing.processes import database_url_of_tests

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = [
    "CREATE TABLE parent (id INTEGER PRIMARY KEY)",
    "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL"
    " REFERENCES parent (id))",
    "INSERT INTO parent (id) VALUES (1)",
    "INSERT INTO child (id, parent_id) VALUES (1, 1)",
]


def _reset(
    database_url: str, *args: str, debug: bool = True
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "flowmatik.settings.base",
        "FLOWMATIK_READ_DOT_ENV": "false",
        "DATABASE_URL": database_url,
        "DEBUG": "true" if debug else "false",
    }
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "reset_db", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _sqlite_tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows} - {"sqlite_sequence"}


def test_reset_db_drops_every_sqlite_table_with_foreign_keys(tmp_path):
    path = tmp_path / "scratch.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA foreign_keys = ON")
        for statement in SCHEMA:
            db.execute(statement)

    done = _reset(f"sqlite:///{path}", "--noinput")

    assert done.returncode == 0, done.stderr
    assert "Dropped 2 tables" in done.stdout
    assert _sqlite_tables(path) == set()


def test_reset_db_refuses_when_debug_is_off_unless_forced(tmp_path):
    path = tmp_path / "scratch.sqlite3"
    with sqlite3.connect(path) as db:
        for statement in SCHEMA:
            db.execute(statement)

    refused = _reset(f"sqlite:///{path}", "--noinput", debug=False)
    assert refused.returncode != 0
    assert "pass --force" in refused.stderr
    assert _sqlite_tables(path) == {"parent", "child"}

    forced = _reset(f"sqlite:///{path}", "--noinput", "--force", debug=False)
    assert forced.returncode == 0, forced.stderr
    assert _sqlite_tables(path) == set()


def test_reset_db_without_noinput_needs_a_yes(tmp_path):
    path = tmp_path / "scratch.sqlite3"
    with sqlite3.connect(path) as db:
        for statement in SCHEMA:
            db.execute(statement)

    done = _reset(f"sqlite:///{path}")  # stdin is empty: no answer

    assert done.returncode != 0
    assert _sqlite_tables(path) == {"parent", "child"}


@pytest.mark.mysql
@pytest.mark.django_db(transaction=True)  # the tables are committed before the drop
def test_reset_db_drops_every_mysql_table_with_foreign_keys():
    if connection.vendor != "mysql":
        pytest.skip("needs DATABASE_URL=mysql://...")
    name = connection.settings_dict["NAME"]
    scratch = f"`{name}_reset`"
    statements = [
        f"DROP DATABASE IF EXISTS {scratch}",
        f"CREATE DATABASE {scratch}",
        *(s.replace("TABLE ", f"TABLE {scratch}.") for s in SCHEMA[:2]),
        f"INSERT INTO {scratch}.parent (id) VALUES (1)",  # noqa: S608 - our own name
        f"INSERT INTO {scratch}.child (id, parent_id) VALUES (1, 1)",  # noqa: S608
    ]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    url = database_url_of_tests().rsplit("/", 1)[0] + f"/{name}_reset"
    try:
        done = _reset(url, "--noinput")
        assert done.returncode == 0, done.stderr
        assert "Dropped 2 tables" in done.stdout
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM information_schema.tables"
                " WHERE table_schema = %s",
                [f"{name}_reset"],
            )
            assert cursor.fetchone()[0] == 0
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {scratch}")
