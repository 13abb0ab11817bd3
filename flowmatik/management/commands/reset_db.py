"""`manage.py reset_db`: drop every table of the default database (any backend).

`make reset-db` runs it, then migrates and seeds again. Dropping the tables (rather
than deleting the SQLite file) works the same on SQLite, MySQL/MariaDB and
PostgreSQL, and keeps the database itself, its grants and its character set.
"""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper


def database_tables_drop(*, connection: BaseDatabaseWrapper) -> list[str]:
    """Drop every table (not views) of `connection`; returns their names."""
    quote = connection.ops.quote_name
    cascade = " CASCADE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        if connection.vendor == "mysql":
            cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
        elif connection.vendor == "sqlite":
            cursor.execute("PRAGMA foreign_keys = OFF")
        try:
            for table in tables:
                cursor.execute(f"DROP TABLE IF EXISTS {quote(table)}{cascade}")
        finally:
            if connection.vendor == "mysql":
                cursor.execute("SET FOREIGN_KEY_CHECKS = 1")
            elif connection.vendor == "sqlite":
                cursor.execute("PRAGMA foreign_keys = ON")
    return tables


class Command(BaseCommand):
    help = "Drop every table of the database (then `migrate` builds it again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation.",
        )
        parser.add_argument(
            "--database", default="default", help="The database alias to reset."
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Reset even when DEBUG is off (a production database).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        connection = connections[options["database"]]
        name = connection.settings_dict["NAME"]
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "DEBUG is off: this looks like a production database; "
                "pass --force to drop its tables anyway."
            )
        if options["interactive"]:
            answer = input(f"Drop every table of {name} ({connection.vendor})? [y/N] ")
            if answer.strip().lower() not in {"y", "yes"}:
                raise CommandError("Reset cancelled.")
        tables = database_tables_drop(connection=connection)
        self.stdout.write(
            f"Dropped {len(tables)} tables of {name} ({connection.vendor})."
        )
