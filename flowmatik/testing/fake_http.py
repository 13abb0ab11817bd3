"""A tiny threaded HTTP server base for provider fakes: routing, recording, faults.

Tests point our real clients at `server.url`; every request is recorded (method,
path, query, parsed body, headers) and faults can be queued for the next calls:
an HTTP status with a body, or a delay longer than the client's timeout.
"""

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, Any]
    body: Any
    headers: dict[str, str]


@dataclass
class Fault:
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    match: str = ""  # substring of "METHOD /path" the fault applies to ("" = any)


class Reply(Exception):
    """Raised by a route to answer with a status and JSON body."""

    def __init__(self, status: int, body: Any, headers: dict | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def nest_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Decode Stripe-style form keys (`a[b][0][c]=v`) into dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def listify(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: listify(v) for k, v in node.items()}
            if node and all(k.isdigit() for k in node):
                return [node[k] for k in sorted(node, key=int)]
        return node

    return listify(root)


class FakeServer:
    """Subclasses register routes: `self.route("GET", r"/v1/x/(?P<id>[^/]+)", fn)`."""

    content_type = "application/json"

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self._routes: list[tuple[str, re.Pattern, Callable]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- set-up ---

    def route(self, method: str, pattern: str, handler: Callable) -> None:
        self._routes.append((method, re.compile(f"^{pattern}$"), handler))

    def start(self) -> "FakeServer":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                return

            def _handle(self) -> None:
                fake._dispatch(self)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("The fake server is not started.")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- faults and assertions ---

    def fail_next(
        self,
        status: int = 500,
        body: Any = None,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        match: str = "",
    ) -> None:
        with self.lock:
            for _ in range(times):
                self.faults.append(
                    Fault(status=status, body=body, headers=headers or {}, match=match)
                )

    def clear_faults(self) -> None:
        """Drop the faults not yet served (the provider is back)."""
        with self.lock:
            self.faults.clear()

    def delay_next(self, seconds: float, *, times: int = 1, match: str = "") -> None:
        """Answer the next calls only after `seconds` (beyond the client's timeout)."""
        with self.lock:
            for _ in range(times):
                self.faults.append(Fault(status=0, delay=seconds, match=match))

    def calls(self, method: str | None = None, path: str = "") -> list[RecordedRequest]:
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and r.path.startswith(path)
            ]

    def last(self, method: str | None = None, path: str = "") -> RecordedRequest:
        matching = self.calls(method, path)
        if not matching:
            raise AssertionError(f"no {method or ''} {path} request was received")
        return matching[-1]

    # --- protocol ---

    def parse_body(self, raw: bytes, content_type: str) -> Any:
        if not raw:
            return {}
        if "json" in content_type:
            return json.loads(raw)
        return nest_form(parse_qsl(raw.decode(), keep_blank_values=True))

    def authenticate(self, headers: dict[str, str]) -> None:
        """Raise `Reply` when the request's credentials are wrong."""

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"message": message}}

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for i, fault in enumerate(self.faults):
                if fault.match in f"{method} {path}":
                    return self.faults.pop(i)
        return None

    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        method, path = handler.command, parts.path
        try:
            body = self.parse_body(raw, headers.get("content-type", ""))
        except ValueError:
            body = raw.decode(errors="replace")
        query = nest_form(parse_qsl(parts.query, keep_blank_values=True))
        record = RecordedRequest(method, path, query, body, headers)
        with self.lock:
            self.requests.append(record)
        fault = self._take_fault(method, path)
        try:
            if fault is not None and fault.delay:
                time.sleep(fault.delay)
            if fault is not None and fault.status:
                raise Reply(
                    fault.status,
                    fault.body
                    if fault.body is not None
                    else self.error_body(fault.status, "Injected fault"),
                    fault.headers,
                )
            self.authenticate(headers)
            status, payload, extra = self._route(method, path, record)
        except Reply as reply:
            status, payload, extra = reply.status, reply.body, reply.headers
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", self.content_type)
            handler.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up
            pass

    def _route(self, method: str, path: str, record: RecordedRequest):
        for route_method, pattern, fn in self._routes:
            match = pattern.match(path)
            if match and route_method == method:
                with self.lock:
                    result = fn(record, **match.groupdict())
                if isinstance(result, tuple):
                    status, payload = result
                    return status, payload, {}
                return 200, result, {}
        raise Reply(404, self.error_body(404, f"Unrecognized request URL ({path})"))
