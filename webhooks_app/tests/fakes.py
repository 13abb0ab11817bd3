"""Local fake Stripe and LemonSqueezy APIs (real HTTP on 127.0.0.1, in a thread).

Enough of each protocol for what processing reads: dj-stripe's event sync (account,
customers, subscriptions, prices, products, invoices), subscription lists for
reconciliation, and LemonSqueezy's `GET /v1/subscriptions/{id}`. `fail_next(n)`
makes the next n requests answer 500, to exercise retries.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class FakeApi:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self._failures = 0
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                return None

            def _send(self, code: int, obj: Any) -> None:
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                code, obj = api.answer(self.command, self.path)
                self._send(code, obj)

            do_POST = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._failures = count

    def put(self, path: str, obj: dict[str, Any]) -> None:
        self.objects[path] = obj

    def answer(self, method: str, raw_path: str) -> tuple[int, Any]:
        self.requests.append((method, raw_path))
        with self._lock:
            if self._failures:
                self._failures -= 1
                return 500, {"error": {"type": "api_error", "message": "boom"}}
        parts = urlsplit(raw_path)
        if parts.path in self.objects:
            return 200, self.objects[parts.path]
        return self.list_or_missing(parts.path, parse_qs(parts.query))

    def list_or_missing(self, path: str, query: dict) -> tuple[int, Any]:
        return 404, {"error": {"type": "invalid_request_error", "code": "missing"}}


class FakeStripe(FakeApi):
    """Stripe v1: objects by path, `GET /v1/subscriptions?status=` lists."""

    def __init__(self) -> None:
        super().__init__()
        now = int(time.time())
        self.put(
            "/v1/account",
            {
                "id": "acct_fake",
                "object": "account",
                "type": "standard",
                "settings": {},
                "business_profile": {},
                "country": "US",
                "default_currency": "usd",
                "charges_enabled": True,
                "payouts_enabled": True,
                "details_submitted": True,
                "email": "owner@example.com",
                "created": now,
            },
        )

    def list_or_missing(self, path: str, query: dict) -> tuple[int, Any]:
        if path == "/v1/subscriptions":
            status = (query.get("status") or [""])[0]
            data = [
                obj
                for key, obj in self.objects.items()
                if key.startswith("/v1/subscriptions/")
                and (not status or obj.get("status") == status)
            ]
            return 200, {
                "object": "list",
                "data": data,
                "has_more": False,
                "url": "/v1/subscriptions",
            }
        return super().list_or_missing(path, query)

    def put_customer(self, customer_id: str, *, user) -> None:
        self.put(
            f"/v1/customers/{customer_id}",
            {
                "id": customer_id,
                "object": "customer",
                "created": int(time.time()),
                "livemode": False,
                "email": user.email,
                "metadata": {"user_id": str(user.pk)},
                "balance": 0,
                "currency": "usd",
                "delinquent": False,
                "invoice_settings": {},
                "default_source": None,
            },
        )

    def put_subscription(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a (billing factory) subscription, completed with what dj-stripe
        needs, and its price and product."""
        now = int(time.time())
        item = obj["items"]["data"][0]
        price = {
            "id": item["price"]["id"],
            "object": "price",
            "currency": "usd",
            "unit_amount": 1900,
            "type": "recurring",
            "recurring": {"interval": "month", "interval_count": 1},
            "product": "prod_fake",
            "active": True,
            "livemode": False,
            "created": now,
            "billing_scheme": "per_unit",
            "metadata": {},
        }
        full = dict(obj)
        full.update(
            {
                "created": now,
                "livemode": False,
                "currency": "usd",
                "start_date": now,
                "billing_cycle_anchor": now,
                "collection_method": "charge_automatically",
                "items": {
                    "object": "list",
                    "has_more": False,
                    "url": "/v1/subscription_items",
                    "data": [
                        dict(
                            item,
                            price=price,
                            created=now,
                            quantity=1,
                            subscription=obj["id"],
                            metadata={},
                        )
                    ],
                },
            }
        )
        self.put(f"/v1/subscriptions/{obj['id']}", full)
        self.put(f"/v1/prices/{price['id']}", price)
        self.put(
            "/v1/products/prod_fake",
            {
                "id": "prod_fake",
                "object": "product",
                "name": "Plan",
                "created": now,
                "livemode": False,
                "active": True,
                "metadata": {},
                "type": "service",
            },
        )
        return full


class FakeLemonSqueezy(FakeApi):
    """LemonSqueezy v1 (JSON:API): `GET /v1/subscriptions/{id}`."""

    def put_subscription(self, data: dict[str, Any]) -> None:
        self.put(f"/v1/subscriptions/{data['id']}", {"data": data})
