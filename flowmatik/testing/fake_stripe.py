"""A fake Stripe API on 127.0.0.1: form-encoded POSTs, Stripe's JSON shapes.

Stateful enough for the subscription flows (customers, checkout sessions,
subscriptions, invoices, card payment methods, portal sessions), with Stripe's
idempotency replay, its error envelope, and `complete_checkout` to play the part
of a customer paying on the hosted page; and for dj-stripe's event sync, which
re-reads the account, customers, subscriptions, prices, products, invoices and
sessions (`put_*` store an object exactly as a test built it). Shapes follow API
version basil+ (the billing period lives on the subscription items).
"""

import copy
import itertools
import json
import time
from typing import Any

from flowmatik.testing.fake_http import FakeServer, RecordedRequest, Reply

# dj-stripe refuses a key that does not look real (`sk_test_` + 24 alphanumerics).
DEFAULT_KEY = "sk_test_fakekey" + "k" * 24
API_VERSION = "2026-05-27.dahlia"
PRODUCT_ID = "prod_fake"


def _product(product_id: str) -> dict[str, Any]:
    return {
        "id": product_id,
        "object": "product",
        "name": "Plan",
        "created": int(time.time()),
        "livemode": False,
        "active": True,
        "metadata": {},
        "type": "service",
    }


class FakeStripe(FakeServer):
    def __init__(
        self, api_key: str = DEFAULT_KEY, api_version: str = API_VERSION
    ) -> None:
        super().__init__()
        self.api_key, self.api_version = api_key, api_version
        self._ids = itertools.count(1)
        self.prices: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict] = {}
        self.sessions: dict[str, dict] = {}
        self.subscriptions: dict[str, dict] = {}
        self.invoices: dict[str, dict] = {}
        self.payment_methods: dict[str, dict] = {}
        self.portal_sessions: dict[str, dict] = {}
        self.products: dict[str, dict] = {PRODUCT_ID: _product(PRODUCT_ID)}
        self._idempotent: dict[str, tuple[str, int, Any]] = {}
        self.route("GET", r"/v1/account", self._account_get)
        self.route("POST", r"/v1/customers", self._customer_create)
        self.route("GET", r"/v1/customers/(?P<id>[^/]+)", self._customer_get)
        self.route("POST", r"/v1/checkout/sessions", self._session_create)
        self.route("GET", r"/v1/checkout/sessions/(?P<id>[^/]+)", self._session_get)
        self.route("GET", r"/v1/subscriptions", self._subscription_list)
        self.route("GET", r"/v1/subscriptions/(?P<id>[^/]+)", self._subscription_get)
        self.route(
            "POST", r"/v1/subscriptions/(?P<id>[^/]+)", self._subscription_update
        )
        self.route(
            "DELETE", r"/v1/subscriptions/(?P<id>[^/]+)", self._subscription_cancel
        )
        self.route("GET", r"/v1/invoices", self._invoice_list)
        self.route("GET", r"/v1/invoices/(?P<id>[^/]+)", self._invoice_get)
        self.route("GET", r"/v1/prices/(?P<id>[^/]+)", self._price_get)
        self.route("GET", r"/v1/products/(?P<id>[^/]+)", self._product_get)
        self.route("GET", r"/v1/payment_methods", self._payment_method_list)
        self.route("POST", r"/v1/billing_portal/sessions", self._portal_create)

    # --- helpers for tests ---

    def add_price(self, price_id: str, unit_amount: int, currency: str = "usd") -> None:
        self.prices[price_id] = {
            "id": price_id,
            "object": "price",
            "unit_amount": unit_amount,
            "currency": currency,
            "recurring": {"interval": "month", "interval_count": 1},
            "type": "recurring",
            "active": True,
            "product": PRODUCT_ID,
            "livemode": False,
            "created": int(time.time()),
            "billing_scheme": "per_unit",
            "metadata": {},
        }

    def put_customer(self, customer_id: str, *, user) -> dict[str, Any]:
        """A customer of `user` (metadata `user_id`), as dj-stripe reads it."""
        with self.lock:
            self.customers[customer_id] = {
                "id": customer_id,
                "object": "customer",
                "created": int(time.time()),
                "livemode": False,
                "email": user.email,
                "metadata": {"user_id": str(user.pk)},
                "balance": 0,
                "currency": "usd",
                "delinquent": False,
                "invoice_settings": {"default_payment_method": None},
                "default_source": None,
                "deleted": False,
            }
            return copy.deepcopy(self.customers[customer_id])

    def put_subscription(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a subscription a test built (e.g. `billing.tests.factories.
        stripe_subscription`), completed with what dj-stripe needs; its price is
        the fake's own when known. Returns the stored object."""
        now = int(time.time())
        item = obj["items"]["data"][0]
        price_id = (
            item["price"]["id"] if isinstance(item["price"], dict) else item["price"]
        )
        with self.lock:
            if price_id not in self.prices:
                self.add_price(price_id, 1900)
            full = {
                "created": now,
                "livemode": False,
                "currency": "usd",
                "start_date": now,
                "billing_cycle_anchor": now,
                "collection_method": "charge_automatically",
                **copy.deepcopy(obj),
            }
            full["items"] = {
                "object": "list",
                "has_more": False,
                "url": f"/v1/subscription_items?subscription={obj['id']}",
                "data": [
                    {
                        "object": "subscription_item",
                        "created": now,
                        "quantity": 1,
                        "metadata": {},
                        **copy.deepcopy(item),
                        "subscription": obj["id"],
                        "price": copy.deepcopy(self.prices[price_id]),
                    }
                ],
            }
            self.subscriptions[obj["id"]] = full
            return copy.deepcopy(full)

    def put_invoice(self, obj: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.invoices[obj["id"]] = copy.deepcopy(obj)
            return copy.deepcopy(obj)

    def put_checkout_session(self, obj: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.sessions[obj["id"]] = copy.deepcopy(obj)
            return copy.deepcopy(obj)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):04d}"

    def complete_checkout(
        self, session_id: str, *, status: str = "active", card_last4: str = "4242"
    ) -> dict[str, Any]:
        """The customer pays on the hosted page: subscription, card and invoice."""
        with self.lock:
            session = self.sessions[session_id]
            sub = self.add_subscription(
                customer=session["customer"],
                price_id=session["_price"],
                metadata=session.get("_subscription_metadata") or {},
                status=status,
                card_last4=card_last4,
            )
            session.update(
                status="complete", payment_status="paid", subscription=sub["id"]
            )
            return sub

    def add_subscription(
        self,
        *,
        price_id: str,
        customer: str | None = None,
        email: str = "buyer@example.com",
        metadata: dict | None = None,
        status: str = "active",
        card_last4: str = "4242",
    ) -> dict[str, Any]:
        """A paid subscription with a card and a first invoice (new customer if
        none is given), as if created in Stripe's dashboard or a checkout."""
        with self.lock:
            if customer is None:
                customer = self.new_id("cus")
                self.customers[customer] = {
                    "id": customer,
                    "object": "customer",
                    "email": email,
                    "metadata": {},
                    "livemode": False,
                }
            price = self.prices[price_id]
            pm = self._card(customer, last4=card_last4)
            now = int(time.time())
            sub_id = self.new_id("sub")
            sub = {
                "id": sub_id,
                "object": "subscription",
                "customer": customer,
                "status": status,
                "cancel_at_period_end": False,
                "cancel_at": None,
                "canceled_at": None,
                "ended_at": None,
                "created": now,
                "start_date": now,
                "livemode": False,
                "metadata": dict(metadata or {}),
                "default_payment_method": pm["id"],
                "items": {
                    "object": "list",
                    "data": [self._item(sub_id, price, now)],
                    "has_more": False,
                    "url": f"/v1/subscription_items?subscription={sub_id}",
                },
            }
            self.subscriptions[sub_id] = sub
            self._invoice(sub, price)
            return copy.deepcopy(sub)

    def session_object(self, session_id: str) -> dict[str, Any]:
        with self.lock:
            return self._public(self.sessions[session_id])

    def subscription_object(self, sub_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.subscriptions[sub_id])

    def set_subscription(self, sub_id: str, **fields: Any) -> dict[str, Any]:
        """Change a subscription behind our back (as the dashboard would)."""
        with self.lock:
            self.subscriptions[sub_id].update(fields)
            return copy.deepcopy(self.subscriptions[sub_id])

    def add_invoice(self, customer: str, price_id: str, **fields: Any) -> dict:
        with self.lock:
            sub = {"id": fields.pop("subscription", None), "customer": customer}
            return copy.deepcopy(self._invoice(sub, self.prices[price_id], **fields))

    def event(
        self, event_type: str, obj: dict[str, Any], *, created: int | None = None
    ) -> dict[str, Any]:
        """A Stripe Event envelope around `obj`, as a webhook delivers it."""
        return {
            "id": self.new_id("evt"),
            "object": "event",
            "type": event_type,
            "api_version": self.api_version,
            "created": created or int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "data": {"object": copy.deepcopy(obj)},
        }

    # --- protocol ---

    def error_body(self, status: int, message: str) -> Any:
        kind = "api_error" if status >= 500 else "invalid_request_error"
        return {"error": {"type": kind, "message": message}}

    def authenticate(self, headers: dict[str, str]) -> None:
        if headers.get("authorization") != f"Bearer {self.api_key}":
            raise Reply(
                401,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": "Invalid API Key provided.",
                    }
                },
            )

    def _route(self, method: str, path: str, record: RecordedRequest):
        key = record.headers.get("idempotency-key")
        if method == "POST" and key:
            fingerprint = json.dumps([path, record.body], sort_keys=True)
            with self.lock:
                seen = self._idempotent.get(key)
            if seen is not None:
                if seen[0] != fingerprint:
                    raise Reply(
                        400,
                        {
                            "error": {
                                "type": "idempotency_error",
                                "message": "Keys for idempotent requests can only "
                                "be used with the same parameters they were first "
                                "used with.",
                            }
                        },
                    )
                return seen[1], seen[2], {"Idempotent-Replayed": "true"}
            status, payload, extra = super()._route(method, path, record)
            with self.lock:
                self._idempotent[key] = (fingerprint, status, payload)
            return status, payload, extra
        return super()._route(method, path, record)

    @staticmethod
    def _public(obj: dict) -> dict:
        return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}

    def _missing(self, kind: str, obj_id: str, param: str = "id") -> Reply:
        return Reply(
            404,
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "param": param,
                    "message": f"No such {kind}: '{obj_id}'",
                }
            },
        )

    @staticmethod
    def _list(
        url: str, items: list[dict], limit: Any = 10, starting_after: str = ""
    ) -> dict:
        """Stripe's list envelope with cursor pagination (`starting_after`)."""
        limit = int(limit or 10)
        if starting_after:
            ids = [i["id"] for i in items]
            start = ids.index(starting_after) + 1 if starting_after in ids else 0
            items = items[start:]
        return {
            "object": "list",
            "data": items[:limit],
            "has_more": len(items) > limit,
            "url": url,
        }

    def _item(self, sub_id: str, price: dict, start: int) -> dict:
        return {
            "id": self.new_id("si"),
            "object": "subscription_item",
            "subscription": sub_id,
            "price": copy.deepcopy(price),
            "quantity": 1,
            "current_period_start": start,
            "current_period_end": start + 30 * 86400,
        }

    def _card(self, customer: str, last4: str = "4242") -> dict:
        pm = {
            "id": self.new_id("pm"),
            "object": "payment_method",
            "type": "card",
            "customer": customer,
            "card": {
                "brand": "visa",
                "last4": last4,
                "exp_month": 12,
                "exp_year": 2030,
                "funding": "credit",
            },
            "created": int(time.time()),
        }
        self.payment_methods[pm["id"]] = pm
        return pm

    def _invoice(self, sub: dict, price: dict, **fields: Any) -> dict:
        invoice_id = self.new_id("in")
        number = f"FAKE-{len(self.invoices) + 1:04d}"
        invoice = {
            "id": invoice_id,
            "object": "invoice",
            "customer": sub["customer"],
            "number": number,
            "status": "paid",
            "currency": price["currency"],
            "amount_due": price["unit_amount"],
            "amount_paid": price["unit_amount"],
            "created": int(time.time()) + len(self.invoices),
            "invoice_pdf": f"{self.url}/invoices/{invoice_id}.pdf",
            "hosted_invoice_url": f"{self.url}/i/{invoice_id}",
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": sub.get("id")},
            },
        }
        invoice.update(fields)
        self.invoices[invoice_id] = invoice
        return invoice

    # --- routes ---

    def _account_get(self, req: RecordedRequest):
        return {
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
            "created": int(time.time()),
        }

    def _invoice_get(self, req: RecordedRequest, id: str):
        if id not in self.invoices:
            raise self._missing("invoice", id)
        return copy.deepcopy(self.invoices[id])

    def _price_get(self, req: RecordedRequest, id: str):
        if id not in self.prices:
            raise self._missing("price", id)
        return copy.deepcopy(self.prices[id])

    def _product_get(self, req: RecordedRequest, id: str):
        if id not in self.products:
            raise self._missing("product", id)
        return copy.deepcopy(self.products[id])

    def _customer_create(self, req: RecordedRequest):
        body = req.body
        customer = {
            "id": self.new_id("cus"),
            "object": "customer",
            "email": body.get("email"),
            "name": body.get("name"),
            "metadata": body.get("metadata") or {},
            "livemode": False,
            "created": int(time.time()),
            "invoice_settings": {"default_payment_method": None},
            "deleted": False,
        }
        self.customers[customer["id"]] = customer
        return copy.deepcopy(customer)

    def _customer_get(self, req: RecordedRequest, id: str):
        if id not in self.customers:
            raise self._missing("customer", id)
        return copy.deepcopy(self.customers[id])

    def _session_create(self, req: RecordedRequest):
        body = req.body
        customer = body.get("customer")
        if customer and customer not in self.customers:
            raise self._missing("customer", customer, "customer")
        items = body.get("line_items") or []
        price_id = items[0].get("price") if items else None
        if price_id not in self.prices:
            raise self._missing("price", str(price_id), "line_items[0][price]")
        if body.get("mode") != "subscription" or not body.get("success_url"):
            raise Reply(400, self.error_body(400, "Missing mode or success_url"))
        session_id = self.new_id("cs_test")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": body["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "customer": customer,
            "client_reference_id": body.get("client_reference_id"),
            "metadata": body.get("metadata") or {},
            "subscription": None,
            "success_url": body["success_url"],
            "cancel_url": body.get("cancel_url"),
            "livemode": False,
            "url": f"{self.url}/c/pay/{session_id}",
            "_price": price_id,
            "_subscription_metadata": (body.get("subscription_data") or {}).get(
                "metadata"
            ),
        }
        self.sessions[session_id] = session
        return self._public(session)

    def _session_get(self, req: RecordedRequest, id: str):
        if id not in self.sessions:
            raise self._missing("checkout.session", id)
        return self._public(self.sessions[id])

    def _expanded(self, sub: dict, req: RecordedRequest) -> dict:
        out = copy.deepcopy(sub)
        expand = req.query.get("expand") or []
        if "default_payment_method" in expand and out.get("default_payment_method"):
            out["default_payment_method"] = copy.deepcopy(
                self.payment_methods[out["default_payment_method"]]
            )
        return out

    def _subscription_get(self, req: RecordedRequest, id: str):
        if id not in self.subscriptions:
            raise self._missing("subscription", id)
        return self._expanded(self.subscriptions[id], req)

    def _subscription_list(self, req: RecordedRequest):
        status = req.query.get("status")
        subs = [
            copy.deepcopy(s)
            for s in sorted(
                self.subscriptions.values(), key=lambda s: s["created"], reverse=True
            )
            if status in (None, "all") or s["status"] == status
        ]
        return self._list(
            "/v1/subscriptions",
            subs,
            req.query.get("limit"),
            req.query.get("starting_after", ""),
        )

    def _subscription_update(self, req: RecordedRequest, id: str):
        if id not in self.subscriptions:
            raise self._missing("subscription", id)
        sub = self.subscriptions[id]
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise Reply(
                400,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": "A canceled subscription can only update its "
                        "cancellation_details and metadata.",
                    }
                },
            )
        body = req.body
        if "cancel_at_period_end" in body:
            sub["cancel_at_period_end"] = body["cancel_at_period_end"] == "true"
            sub["canceled_at"] = (
                int(time.time()) if sub["cancel_at_period_end"] else None
            )
        for change in body.get("items") or []:
            item = next(
                (i for i in sub["items"]["data"] if i["id"] == change.get("id")), None
            )
            if item is None:
                raise self._missing("subscription_item", str(change.get("id")), "items")
            if change.get("price") not in self.prices:
                raise self._missing(
                    "price", str(change.get("price")), "items[0][price]"
                )
            item["price"] = copy.deepcopy(self.prices[change["price"]])
        if body.get("metadata"):
            sub["metadata"].update(body["metadata"])
        return copy.deepcopy(sub)

    def _subscription_cancel(self, req: RecordedRequest, id: str):
        if id not in self.subscriptions:
            raise self._missing("subscription", id)
        sub = self.subscriptions[id]
        now = int(time.time())
        sub.update(status="canceled", canceled_at=now, ended_at=now)
        return copy.deepcopy(sub)

    def _invoice_list(self, req: RecordedRequest):
        customer = req.query.get("customer")
        invoices = sorted(
            (i for i in self.invoices.values() if customer in (None, i["customer"])),
            key=lambda i: i["created"],
            reverse=True,
        )
        return self._list(
            "/v1/invoices", [copy.deepcopy(i) for i in invoices], req.query.get("limit")
        )

    def _payment_method_list(self, req: RecordedRequest):
        customer = req.query.get("customer")
        kind = req.query.get("type", "card")
        methods = [
            copy.deepcopy(pm)
            for pm in self.payment_methods.values()
            if pm["customer"] == customer and pm["type"] == kind
        ]
        return self._list("/v1/payment_methods", methods, req.query.get("limit"))

    def _portal_create(self, req: RecordedRequest):
        customer = req.body.get("customer")
        if customer not in self.customers:
            raise self._missing("customer", str(customer), "customer")
        portal = {
            "id": self.new_id("bps"),
            "object": "billing_portal.session",
            "customer": customer,
            "return_url": req.body.get("return_url"),
            "url": f"{self.url}/p/session/{self.new_id('ps')}",
            "livemode": False,
        }
        self.portal_sessions[portal["id"]] = portal
        return copy.deepcopy(portal)
