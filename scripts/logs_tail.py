"""`make logs-tail`: the platform's JSON log lines, pretty-printed and filtered.

Reads the log `make run` writes (var/log/platform.log), following it as it grows,
or standard input (`... | python scripts/logs_tail.py -`). `--level warning` keeps
warnings and worse; `--request-id ID` keeps one request's lines. Lines that are not
JSON (uvicorn's and Celery's own banners) are shown as they are unless a filter is on.
"""

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
COLORS = {
    "debug": "2",
    "info": "36",
    "warning": "33",
    "error": "31",
    "critical": "1;31",
}
# Keys shown in the line's head; every other key follows as key=value.
HEAD = ("timestamp", "level", "service", "requestId", "userId", "message", "exception")


def lines_follow(stream: TextIO, *, follow: bool, poll: float = 0.25) -> Iterator[str]:
    """The stream's lines; with `follow`, wait for more at its end (like tail -F)."""
    while True:
        line = stream.readline()
        if line:
            yield line
        elif not follow:
            return
        else:
            time.sleep(poll)


def record_format(record: dict[str, Any], *, color: bool) -> str:
    level = str(record.get("level", "")).lower()
    head = f"{level.upper():<8}"
    if color:
        head = f"\x1b[{COLORS.get(level, '0')}m{head}\x1b[0m"
    parts = [str(record.get("timestamp", "")), head, str(record.get("service", ""))]
    if record.get("requestId"):
        parts.append(f"[{record['requestId']}]")
    if record.get("userId") is not None:
        parts.append(f"user={record['userId']}")
    parts.append(str(record.get("message", "")))
    extra = " ".join(
        f"{key}={json.dumps(value, default=str, ensure_ascii=False)}"
        for key, value in record.items()
        if key not in HEAD
    )
    text = " ".join(part for part in parts if part)
    if extra:
        text += f"  {extra}"
    if record.get("exception"):
        text += "\n" + str(record["exception"])
    return text


def line_render(
    line: str, *, level: int, request_id: str | None, color: bool
) -> str | None:
    """The line to print, or None when the filters drop it."""
    line = line.rstrip("\n")
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        filtered = level > LEVELS["debug"] or request_id
        return None if filtered or not line else line
    if LEVELS.get(str(record.get("level", "")).lower(), 0) < level:
        return None
    if request_id and record.get("requestId") != request_id:
        return None
    return record_format(record, color=color)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="the log file, or - for standard input")
    parser.add_argument("--level", default="debug", choices=sorted(LEVELS))
    parser.add_argument("--request-id", default="")
    parser.add_argument("--no-follow", action="store_true", help="stop at the end")
    parser.add_argument("--lines", type=int, default=50, help="start this far back")
    args = parser.parse_args(argv)
    color = sys.stdout.isatty()
    level = LEVELS[args.level]
    if args.path == "-":
        stream: TextIO = sys.stdin
        follow = False
    else:
        path = Path(args.path)
        if not path.exists():
            print(f"{path} does not exist yet: start the platform with `make run`.")
            return 1
        stream = path.open(encoding="utf-8", errors="replace")
        follow = not args.no_follow
        if args.lines >= 0:  # start at the last N lines, as tail does
            tail = stream.readlines()[-args.lines :] if args.lines else []
            for line in tail:
                shown = line_render(
                    line, level=level, request_id=args.request_id, color=color
                )
                if shown is not None:
                    print(shown)
    try:
        for line in lines_follow(stream, follow=follow):
            shown = line_render(
                line, level=level, request_id=args.request_id, color=color
            )
            if shown is not None:
                print(shown, flush=True)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
