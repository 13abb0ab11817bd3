"""A fake LemonSqueezy API on 127.0.0.1 speaking JSON:API.

Checkouts, subscriptions (get, list with page/filter, PATCH variant/cancelled,
DELETE = cancel with a grace period), subscription invoices and orders, bearer
auth, JSON:API content types, `errors` envelopes, rate-limit headers, and
`complete_checkout` to play the customer paying. Every write bumps `updated_at`.
"""

import copy
import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flowmatik.testing.fake_http import FakeServer, RecordedRequest, Reply

DEFAULT_KEY = "ls_test_fake_key"
JSONAPI = "application/vnd.api+json"


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if value else None


class FakeLemonSqueezy(FakeServer):
    content_type = JSONAPI

    def __init__(self, api_key: str = DEFAULT_KEY, store_id: str = "1") -> None:
        super().__init__()
        self.api_key, self.store_id = api_key, str(store_id)
        self._ids = itertools.count(1)
        self._clock = datetime.now(tz=UTC)
        self.variants: dict[str, dict[str, Any]] = {}
        self.checkouts: dict[str, dict] = {}
        self.subscriptions: dict[str, dict] = {}
        self.invoices: dict[str, dict] = {}
        self.orders: dict[str, dict] = {}
        self.route("POST", r"/v1/checkouts", self._checkout_create)
        self.route("GET", r"/v1/checkouts/(?P<id>[^/]+)", self._checkout_get)
        self.route("GET", r"/v1/subscriptions", self._subscription_list)
        self.route("GET", r"/v1/subscriptions/(?P<id>[^/]+)", self._subscription_get)
        self.route(
            "PATCH", r"/v1/subscriptions/(?P<id>[^/]+)", self._subscription_patch
        )
        self.route(
            "DELETE", r"/v1/subscriptions/(?P<id>[^/]+)", self._subscription_cancel
        )
        self.route("GET", r"/v1/subscription-invoices", self._invoice_list)
        self.route("GET", r"/v1/orders", self._order_list)

    # --- helpers for tests ---

    def add_variant(self, variant_id: str, price: int, name: str = "Plan") -> None:
        self.variants[str(variant_id)] = {"price": price, "name": name}

    def _tick(self) -> datetime:
        """A strictly increasing clock for `updated_at`."""
        self._clock = max(self._clock + timedelta(milliseconds=1), datetime.now(tz=UTC))
        return self._clock

    def complete_checkout(
        self, checkout_id: str, *, status: str = "active"
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The customer pays: (subscription resource, custom data) as webhooks send."""
        with self.lock:
            checkout = self.checkouts[checkout_id]
            attrs = checkout["attributes"]
            variant_id = str(attrs["variant_id"])
            custom = copy.deepcopy(attrs["checkout_data"].get("custom") or {})
            sub_id = str(next(self._ids) + 1000)
            now = self._tick()
            order = self._order(attrs, variant_id)
            sub = {
                "type": "subscriptions",
                "id": sub_id,
                "attributes": {
                    "store_id": int(self.store_id),
                    "customer_id": 500 + len(self.subscriptions),
                    "order_id": int(order["id"]),
                    "product_id": 1,
                    "variant_id": int(variant_id),
                    "user_name": "Test Buyer",
                    "user_email": attrs["checkout_data"].get("email"),
                    "status": status,
                    "status_formatted": status.replace("_", " ").title(),
                    "card_brand": "visa",
                    "card_last_four": "4242",
                    "pause": None,
                    "cancelled": False,
                    "trial_ends_at": None,
                    "billing_anchor": now.day,
                    "renews_at": _iso(now + timedelta(days=30)),
                    "ends_at": None,
                    "created_at": _iso(now),
                    "updated_at": _iso(now),
                    "test_mode": True,
                },
            }
            self.subscriptions[sub_id] = sub
            self._invoice(sub_id, variant_id)
            return self._subscription_resource(sub_id), custom

    def put_subscription(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Store a subscription resource a test built (e.g. `billing.tests.
        factories.ls_subscription`); the API then serves it."""
        with self.lock:
            self.subscriptions[str(resource["id"])] = copy.deepcopy(resource)
            return self._subscription_resource(str(resource["id"]))

    def subscription_resource(self, sub_id: str) -> dict[str, Any]:
        with self.lock:
            return self._subscription_resource(sub_id)

    def set_subscription(self, sub_id: str, **attributes: Any) -> dict[str, Any]:
        with self.lock:
            attrs = self.subscriptions[sub_id]["attributes"]
            attrs.update(attributes)
            attrs["updated_at"] = _iso(self._tick())
            return self._subscription_resource(sub_id)

    @staticmethod
    def webhook_payload(
        event_name: str, resource: dict[str, Any], custom_data: dict | None = None
    ) -> dict[str, Any]:
        """A webhook body as LemonSqueezy sends it (`meta` + the resource)."""
        meta: dict[str, Any] = {"event_name": event_name, "test_mode": True}
        if custom_data is not None:
            meta["custom_data"] = copy.deepcopy(custom_data)
        return {"meta": meta, "data": copy.deepcopy(resource)}

    # --- protocol ---

    def error_body(self, status: int, message: str) -> Any:
        return {
            "jsonapi": {"version": "1.0"},
            "errors": [{"status": str(status), "title": "Error", "detail": message}],
        }

    def authenticate(self, headers: dict[str, str]) -> None:
        if headers.get("authorization") != f"Bearer {self.api_key}":
            raise Reply(401, self.error_body(401, "Unauthenticated."))
        if headers.get("accept") != JSONAPI:
            raise Reply(406, self.error_body(406, "Not Acceptable"))

    def _missing(self) -> Reply:
        return Reply(404, self.error_body(404, "Not found"))

    def _subscription_resource(self, sub_id: str) -> dict[str, Any]:
        sub = copy.deepcopy(self.subscriptions[sub_id])
        # Signed, short-lived URLs: a fresh signature on every read.
        signature = uuid.uuid4().hex[:16]
        sub["attributes"]["urls"] = {
            "update_payment_method": (
                f"{self.url}/subscription/{sub_id}/payment-details?signature={signature}"
            ),
            "customer_portal": f"{self.url}/billing?expires=1&signature={signature}",
        }
        sub["links"] = {"self": f"{self.url}/v1/subscriptions/{sub_id}"}
        return sub

    def _document(self, data: Any, **extra: Any) -> dict[str, Any]:
        return {"jsonapi": {"version": "1.0"}, "data": data, **extra}

    def _order(self, checkout_attrs: dict, variant_id: str) -> dict:
        order_id = str(next(self._ids) + 2000)
        price = self.variants[variant_id]["price"]
        order = {
            "type": "orders",
            "id": order_id,
            "attributes": {
                "store_id": int(self.store_id),
                "identifier": str(uuid.uuid4()),
                "order_number": int(order_id),
                "user_email": checkout_attrs["checkout_data"].get("email"),
                "currency": "USD",
                "total": price,
                "status": "paid",
                "urls": {"receipt": f"{self.url}/receipt/{order_id}"},
                "created_at": _iso(self._tick()),
            },
        }
        self.orders[order_id] = order
        return order

    def _invoice(self, sub_id: str, variant_id: str, **attributes: Any) -> dict:
        invoice_id = str(next(self._ids) + 3000)
        invoice = {
            "type": "subscription-invoices",
            "id": invoice_id,
            "attributes": {
                "store_id": int(self.store_id),
                "subscription_id": int(sub_id),
                "billing_reason": "initial",
                "card_brand": "visa",
                "card_last_four": "4242",
                "currency": "USD",
                "status": "paid",
                "total": self.variants[variant_id]["price"],
                "urls": {"invoice_url": f"{self.url}/invoice/{invoice_id}"},
                "created_at": _iso(self._tick()),
                "updated_at": _iso(self._clock),
                "test_mode": True,
            },
        }
        invoice["attributes"].update(attributes)
        self.invoices[invoice_id] = invoice
        return invoice

    def add_invoice(self, sub_id: str, **attributes: Any) -> dict:
        with self.lock:
            variant = str(self.subscriptions[sub_id]["attributes"]["variant_id"])
            return copy.deepcopy(self._invoice(sub_id, variant, **attributes))

    def _page(self, items: list[dict], req: RecordedRequest, path: str) -> dict:
        page = req.query.get("page") or {}
        size = max(1, min(int(page.get("size") or 10), 100))
        number = max(1, int(page.get("number") or 1))
        last = max(1, -(-len(items) // size))
        chunk = items[(number - 1) * size : number * size]
        return self._document(
            chunk,
            meta={
                "page": {
                    "currentPage": number,
                    "from": (number - 1) * size + 1 if chunk else None,
                    "lastPage": last,
                    "perPage": size,
                    "to": (number - 1) * size + len(chunk) if chunk else None,
                    "total": len(items),
                }
            },
            links={
                "first": f"{self.url}{path}?page[number]=1&page[size]={size}",
                "last": f"{self.url}{path}?page[number]={last}&page[size]={size}",
            },
        )

    # --- routes ---

    def _checkout_create(self, req: RecordedRequest):
        data = (req.body or {}).get("data") or {}
        if (
            req.headers.get("content-type") != JSONAPI
            or data.get("type") != "checkouts"
        ):
            raise Reply(422, self.error_body(422, "The data.type field is invalid."))
        rel = data.get("relationships") or {}
        store = ((rel.get("store") or {}).get("data") or {}).get("id")
        variant = ((rel.get("variant") or {}).get("data") or {}).get("id")
        if store != self.store_id:
            raise Reply(422, self.error_body(422, "The store is invalid."))
        if str(variant) not in self.variants:
            raise Reply(422, self.error_body(422, "The variant is invalid."))
        attrs = copy.deepcopy(data.get("attributes") or {})
        checkout_id = str(uuid.uuid4())
        now = _iso(self._tick())
        attributes = {
            "store_id": int(store),
            "variant_id": int(variant),
            "custom_price": attrs.get("custom_price"),
            "product_options": attrs.get("product_options") or {},
            "checkout_options": attrs.get("checkout_options") or {},
            "checkout_data": attrs.get("checkout_data") or {},
            "expires_at": attrs.get("expires_at"),
            "created_at": now,
            "updated_at": now,
            "test_mode": bool(attrs.get("test_mode")),
            "url": f"{self.url}/checkout/custom/{checkout_id}?signature=fake",
        }
        checkout = {"type": "checkouts", "id": checkout_id, "attributes": attributes}
        self.checkouts[checkout_id] = checkout
        return 201, self._document(copy.deepcopy(checkout))

    def _checkout_get(self, req: RecordedRequest, id: str):
        if id not in self.checkouts:
            raise self._missing()
        return self._document(copy.deepcopy(self.checkouts[id]))

    def _subscription_get(self, req: RecordedRequest, id: str):
        if id not in self.subscriptions:
            raise self._missing()
        return self._document(self._subscription_resource(id))

    def _subscription_list(self, req: RecordedRequest):
        filters = req.query.get("filter") or {}
        subs = [
            self._subscription_resource(sub_id)
            for sub_id, sub in sorted(self.subscriptions.items())
            if str(sub["attributes"]["store_id"]) == str(filters.get("store_id", ""))
            or "store_id" not in filters
        ]
        if "status" in filters:
            subs = [s for s in subs if s["attributes"]["status"] == filters["status"]]
        return self._page(subs, req, "/v1/subscriptions")

    def _subscription_patch(self, req: RecordedRequest, id: str):
        if id not in self.subscriptions:
            raise self._missing()
        data = (req.body or {}).get("data") or {}
        if data.get("type") != "subscriptions" or str(data.get("id")) != id:
            raise Reply(422, self.error_body(422, "The data.id field is invalid."))
        attrs = self.subscriptions[id]["attributes"]
        if attrs["status"] == "expired":
            raise Reply(422, self.error_body(422, "The subscription has expired."))
        changes = data.get("attributes") or {}
        if "variant_id" in changes:
            if str(changes["variant_id"]) not in self.variants:
                raise Reply(422, self.error_body(422, "The variant is invalid."))
            attrs["variant_id"] = int(changes["variant_id"])
        if changes.get("cancelled") is False and attrs["status"] == "cancelled":
            attrs.update(
                status="active",
                cancelled=False,
                renews_at=attrs["ends_at"],
                ends_at=None,
            )
        attrs["updated_at"] = _iso(self._tick())
        return self._document(self._subscription_resource(id))

    def _subscription_cancel(self, req: RecordedRequest, id: str):
        if id not in self.subscriptions:
            raise self._missing()
        attrs = self.subscriptions[id]["attributes"]
        if attrs["status"] != "expired":
            attrs.update(
                status="cancelled",
                cancelled=True,
                ends_at=attrs["renews_at"],
                updated_at=_iso(self._tick()),
            )
        return self._document(self._subscription_resource(id))

    def _invoice_list(self, req: RecordedRequest):
        filters = req.query.get("filter") or {}
        wanted = str(filters.get("subscription_id", ""))
        invoices = sorted(
            (
                copy.deepcopy(i)
                for i in self.invoices.values()
                if not wanted or str(i["attributes"]["subscription_id"]) == wanted
            ),
            key=lambda i: i["attributes"]["created_at"],
            reverse=True,
        )
        return self._page(invoices, req, "/v1/subscription-invoices")

    def _order_list(self, req: RecordedRequest):
        filters = req.query.get("filter") or {}
        email = filters.get("user_email")
        orders = [
            copy.deepcopy(o)
            for o in self.orders.values()
            if not email or o["attributes"]["user_email"] == email
        ]
        return self._page(orders, req, "/v1/orders")
