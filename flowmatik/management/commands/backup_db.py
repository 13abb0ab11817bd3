"""`manage.py backup_db`: dump the database to var/backups/ (SQLite or mysqldump)."""

import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection


class Command(BaseCommand):
    help = "Write a backup of the default database to var/backups/."

    def handle(self, *args, **options) -> None:
        folder = Path(settings.VAR_DIR) / "backups"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
        db = settings.DATABASES["default"]
        if connection.vendor == "sqlite":
            target = folder / f"flowmatik-{stamp}.sqlite3"
            with sqlite3.connect(db["NAME"]) as src, sqlite3.connect(target) as dst:
                src.backup(dst)
        elif connection.vendor == "mysql":
            dump = shutil.which("mariadb-dump") or shutil.which("mysqldump")
            if not dump:
                raise CommandError("mysqldump (or mariadb-dump) is not installed")
            target = folder / f"flowmatik-{stamp}.sql"
            command = [
                dump,
                "--single-transaction",
                "-h",
                db["HOST"] or "127.0.0.1",
            ]
            command += ["-P", str(db["PORT"] or 3306), "-u", db["USER"], db["NAME"]]
            env = {"MYSQL_PWD": db["PASSWORD"] or ""}
            with target.open("wb") as out:
                subprocess.run(command, stdout=out, check=True, env=env)  # noqa: S603
        else:
            raise CommandError(f"backups of {connection.vendor} are not supported")
        self.stdout.write(str(target))
