"""The embedded default's channel layer: in memory, with group messages relayed
between the local processes (uvicorn workers, the Celery worker) over loopback.

Without Redis every process has its own in-memory layer, so a push made in the
Celery worker (a payment notification, job progress, a key revocation) would never
reach a socket held by a web process. Here a process that holds sockets (the first
`group_add`) listens on `127.0.0.1:<free port>` and registers the port and a random
secret in a file under `CHANNELS_RELAY_DIR` (mode 0600). `group_send` delivers to the
local members and sends the message, length-prefixed msgpack (what channels-redis
sends to Redis), to every registered process, which delivers it to its own members.
A process that died leaves a file whose port refuses connections; the first sender
that notices removes it. `send` to one channel stays local: pushes use groups.
"""

import asyncio
import atexit
import contextlib
import hmac
import json
import logging
import os
import secrets
import socket
import struct
from pathlib import Path
from typing import Any

import msgpack

from flowmatik.realtime import CountingInMemoryChannelLayer

logger = logging.getLogger("flowmatik.realtime")

_HEADER = struct.Struct(">I")


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # signal 0 is CTRL_C_EVENT there: assume alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RelayChannelLayer(CountingInMemoryChannelLayer):
    """The counting in-memory layer, plus a loopback relay of group messages."""

    def __init__(
        self,
        relay_dir: str,
        relay_timeout: float = 1.0,
        relay_max_bytes: int = 1024 * 1024,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.relay_dir = Path(relay_dir)
        self.relay_timeout = relay_timeout
        self.relay_max_bytes = relay_max_bytes
        self._server: asyncio.AbstractServer | None = None
        self._server_loop: asyncio.AbstractEventLoop | None = None
        self._registration: Path | None = None
        self._secret = ""
        self._atexit_registered = False

    # --- channels' API --------------------------------------------------------

    async def group_add(self, group, channel):
        await super().group_add(group, channel)
        await self._listen()

    async def group_send(self, group, message):
        dropped = await super().group_send(group, message)
        await self._relay(group, message)
        return dropped

    async def flush(self):
        await super().flush()
        self._unregister()

    # --- receiving ------------------------------------------------------------

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        if self._server is not None and self._server_loop is loop:
            return
        self._unregister()
        self._secret = secrets.token_hex(16)
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self._server_loop = loop
        port = self._server.sockets[0].getsockname()[1]
        self._register(port)

    def _register(self, port: int) -> None:
        self.relay_dir.mkdir(parents=True, exist_ok=True)
        name = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        final = self.relay_dir / f"{name}.json"
        partial = self.relay_dir / f".{name}.tmp"
        record = {"port": port, "secret": self._secret, "pid": os.getpid()}
        record["host"] = socket.gethostname()
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(record, handle)
        partial.replace(final)
        self._registration = final
        if not self._atexit_registered:
            atexit.register(self._unregister)
            self._atexit_registered = True

    def _unregister(self) -> None:
        if self._registration is not None:
            self._registration.unlink(missing_ok=True)
            self._registration = None
        if self._server is not None:
            with contextlib.suppress(RuntimeError):  # its loop may be closed
                self._server.close()
            self._server = None
            self._server_loop = None

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                try:
                    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                except asyncio.IncompleteReadError:
                    return
                if size > self.relay_max_bytes:
                    logger.warning("Relayed message too large", extra={"size": size})
                    return
                frame = msgpack.unpackb(await reader.readexactly(size), raw=False)
                if not hmac.compare_digest(str(frame.get("s", "")), self._secret):
                    logger.warning("Relayed message with a wrong secret refused")
                    return
                await CountingInMemoryChannelLayer.group_send(
                    self, frame["g"], frame["m"]
                )
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, KeyError):
            logger.warning("Malformed relayed message dropped")
        finally:
            writer.close()

    # --- sending --------------------------------------------------------------

    def _peers(self) -> list[tuple[Path, dict[str, Any]]]:
        peers: list[tuple[Path, dict[str, Any]]] = []
        if not self.relay_dir.is_dir():
            return peers
        for path in self.relay_dir.glob("*.json"):
            if path == self._registration:
                continue
            try:
                peers.append((path, json.loads(path.read_text())))
            except (OSError, ValueError):
                continue  # being written or removed
        return peers

    async def _relay(self, group: str, message: dict[str, Any]) -> None:
        peers = self._peers()
        if not peers:
            return
        await asyncio.gather(
            *(self._relay_to(path, peer, group, message) for path, peer in peers)
        )

    async def _relay_to(
        self, path: Path, peer: dict[str, Any], group: str, message: dict[str, Any]
    ) -> None:
        payload = msgpack.packb(
            {"s": peer.get("secret", ""), "g": group, "m": message}, use_bin_type=True
        )
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", int(peer["port"])),
                self.relay_timeout,
            )
            try:
                writer.write(_HEADER.pack(len(payload)) + payload)
                await asyncio.wait_for(writer.drain(), self.relay_timeout)
            finally:
                writer.close()
        except (OSError, TimeoutError, KeyError, ValueError) as exc:
            if self._peer_gone(peer):
                path.unlink(missing_ok=True)
                return
            logger.warning(
                "Relay to a local process failed",
                extra={"group": group, "error": type(exc).__name__},
            )

    @staticmethod
    def _peer_gone(peer: dict[str, Any]) -> bool:
        """The peer's process no longer exists (or its record is unusable)."""
        try:
            pid = int(peer["pid"])
        except (KeyError, TypeError, ValueError):
            return True
        return peer.get("host") == socket.gethostname() and not _pid_alive(pid)
