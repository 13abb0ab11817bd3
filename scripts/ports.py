"""Ports `make run` needs: says whether each is free, picks a free demo-model port.

Prints shell assignments for scripts/run-platform.sh:
  WEB_PORT_BUSY=0|1  DEMO_PORT=<port>  DEMO_NOTE=<one line or empty>
The demo model's port comes from the settings (AI_DEMO_PORT, .env included); when it
is taken and nobody chose it explicitly, a free one is picked and passed on to the
platform through AI_DEMO_PORT. When it was chosen explicitly, the note says what to
set instead and DEMO_PORT is empty.
"""

import os
import shlex
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def port_busy(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def main(web_host: str, web_port: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flowmatik.settings.base")
    from django.conf import settings  # the values only: no apps, no logging

    host, port = settings.AI_DEMO_HOST, settings.AI_DEMO_PORT
    demo_port, note = str(port), ""
    if port_busy(host, port):
        if "AI_DEMO_PORT" in os.environ or "AI_DEMO_BASE_URL" in os.environ:
            demo_port = ""
            note = (
                f"error: the demo model's port {port} ({host}) is taken; set "
                "AI_DEMO_PORT to a free port (and AI_DEMO_BASE_URL, if you set it) "
                "or stop what holds it"
            )
        else:
            demo_port = str(free_port(host))
            note = (
                f"  The demo model's port {port} is taken (another checkout running?);"
                f" using {demo_port} (set AI_DEMO_PORT to choose)."
            )
    print(f"WEB_PORT_BUSY={int(port_busy(web_host, web_port))}")
    print(f"DEMO_PORT={shlex.quote(demo_port)}")
    print(f"DEMO_NOTE={shlex.quote(note)}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
