"""The local folders the configured stores write to, made at startup, not at import.

Only what the configuration uses: the SQLite database's folder and the embedded
Celery broker's queue folders. Stores that make their
own folder when first used (metrics store, disk cache, media storage, backups,
beat's schedule file) are left to do so.
"""

from pathlib import Path


def local_folders(settings) -> list[Path]:
    """The folders `settings` needs to exist before the platform starts."""
    folders: list[Path] = []
    database = settings.DATABASES["default"]
    name = str(database.get("NAME") or "")
    in_memory = name in ("", ":memory:") or name.startswith("file:")
    if database["ENGINE"].endswith("sqlite3") and not in_memory:
        folders.append(Path(name).parent)
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        folders += [
            settings.CELERY_DATA_DIR / "queue",
            settings.CELERY_DATA_DIR / "processed",
        ]
    return folders


def local_folders_create(settings) -> None:
    for folder in local_folders(settings):
        folder.mkdir(parents=True, exist_ok=True)
