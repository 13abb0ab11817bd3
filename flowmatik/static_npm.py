"""A staticfiles finder for the front-end packages npm installs (`package.json`).

Only the files named in `settings.NPM_STATIC_FILES` (static path -> path under
`settings.NPM_ROOT`) are found and collected, so `node_modules` never leaks whole
into `STATIC_ROOT`. Add a package with `npm install --save <pkg>` and name the dist
file(s) the pages need in `NPM_STATIC_FILES`; templates use
`{% static "vendor/<pkg>/<file>" %}`.
"""

from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import CheckMessage, Warning
from django.core.files.storage import FileSystemStorage


def _entries() -> dict[str, Path]:
    root = Path(settings.NPM_ROOT)
    return {
        static_path: root / source
        for static_path, source in settings.NPM_STATIC_FILES.items()
    }


class NpmFinder(BaseFinder):
    """Finds `NPM_STATIC_FILES` under `NPM_ROOT` (collectstatic and servestatic)."""

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        missing = [str(path) for path in _entries().values() if not path.is_file()]
        if not missing:
            return []
        return [
            Warning(
                f"Front-end files missing: {', '.join(missing)}",
                hint="Run `make setup` (it runs `npm ci`).",
                id="flowmatik.W010",
            )
        ]

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> Any:
        # Like Django's own finders: [] when not found, whatever `find_all` says
        # (`staticfiles.finders.find` collects every finder's answer).
        source = _entries().get(path)
        if source is None or not source.is_file():
            return []
        return [str(source)] if find_all else str(source)

    def list(self, ignore_patterns: Any) -> Iterator[tuple[str, FileSystemStorage]]:
        for static_path, source in _entries().items():
            if not source.is_file():
                continue
            storage = FileSystemStorage(location=str(source.parent))
            prefix = str(PurePosixPath(static_path).parent)
            storage.prefix = "" if prefix == "." else prefix  # type: ignore[attr-defined]
            yield source.name, storage
