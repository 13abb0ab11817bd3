"""The portal end to end in headless Chromium, against the real processes.

uvicorn serving the platform and a Celery worker (as `make run` starts them, on this
test run's database, and Redis when REDIS_URL is set), the demo model and a fake
LemonSqueezy over HTTP; Playwright drives Debian's chromium. One person's day: sign
up, chat with the reply streaming in, stop a stream, run out of the Free quota,
upgrade (checkout, a signed webhook), create an API key, generate a blog post, switch
to Spanish. And a staff run: the dashboard's charts with data, a failed webhook
retried from the page. Screenshots of each main page go to var/test-artifacts/.
"""

import contextlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from accounts.models import User
from accounts.tests.factories import UserFactory
from billing.models import Plan, Subscription
from flowmatik.testing.browser import screenshot
from flowmatik.testing.fake_lemonsqueezy import FakeLemonSqueezy
from flowmatik.testing.payments import (
    LEMONSQUEEZY_WEBHOOK_SECRET,
    LS_VARIANTS,
    PLAN_CENTS,
)
from flowmatik.testing.platform import celery_worker_process, platform_env
from flowmatik.testing.processes import RunningProcess, uvicorn_process
from usage.services import usage_record_store
from webhooks_app.models import EventStatus, WebhookEvent
from webhooks_app.tests.helpers import lemonsqueezy_signature

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240, func_only=True)]

FREE_REQUESTS_PER_DAY = 4  # a small Free quota, so running out takes a few chats
STEP_TIMEOUT_MS = 20_000


@dataclass
class Platform:
    web: RunningProcess
    lemonsqueezy: FakeLemonSqueezy

    @property
    def url(self) -> str:
        return self.web.http_url

    def __str__(self) -> str:  # for `login_in_browser`
        return self.web.http_url


@pytest.fixture
def platform(seeded, demo_server, tmp_path) -> Iterator[Platform]:
    """The web process and a worker (no beat), on this test's database and var/.

    Per test: processes kept across tests would keep caches (content types,
    plans) of rows the transactional test's flush deleted."""
    workdir = tmp_path
    lemonsqueezy = FakeLemonSqueezy().start()
    for slug, variant in LS_VARIANTS.items():
        lemonsqueezy.add_variant(variant, PLAN_CENTS[slug], name=slug.title())
    env = platform_env(
        workdir=workdir,
        AI_DEMO_BASE_URL=demo_server.base_url,
        STRIPE_SECRET_KEY="",
        LEMONSQUEEZY_API_KEY=lemonsqueezy.api_key,
        LEMONSQUEEZY_STORE_ID=str(lemonsqueezy.store_id),
        LEMONSQUEEZY_API_BASE=f"{lemonsqueezy.url}/v1",
        LEMONSQUEEZY_WEBHOOK_SECRET=LEMONSQUEEZY_WEBHOOK_SECRET,
        LEMONSQUEEZY_TEST_MODE="true",
        # the portal's CSS and JS straight from static/ and node_modules (no
        # collectstatic in a test run)
        SERVESTATIC_USE_FINDERS="true",
        **{
            f"LEMONSQUEEZY_VARIANT_{slug.upper()}": variant
            for slug, variant in LS_VARIANTS.items()
        },
    )
    try:
        with side_by_side(
            uvicorn_process(
                workdir=workdir, env=env, args=("--timeout-graceful-shutdown", "2")
            ),
            celery_worker_process(workdir=workdir, env=env, beat=False),
        ) as (web, _worker):
            yield Platform(web=web, lemonsqueezy=lemonsqueezy)
    finally:
        lemonsqueezy.stop()


@contextlib.contextmanager
def side_by_side(*managers: AbstractContextManager) -> Iterator[list]:
    """Enter the context managers at once (each process takes seconds to import
    Django), exit them in reverse order; those that started are stopped if another
    one fails to."""
    with contextlib.ExitStack() as stack:
        with ThreadPoolExecutor(max_workers=len(managers)) as pool:
            futures = [pool.submit(manager.__enter__) for manager in managers]
            failures = []
            for manager, future in zip(managers, futures, strict=True):
                try:
                    future.result()
                except Exception as exc:
                    failures.append(exc)
                else:
                    stack.push(manager.__exit__)
        if failures:
            raise failures[0]
        yield [future.result() for future in futures]


@pytest.fixture
def seeded(catalogue_tx) -> None:
    """Plans and models; the Free plan's daily requests made small."""
    Plan.objects.filter(slug="free").update(requests_per_day=FREE_REQUESTS_PER_DAY)


def shot(page, name: str) -> None:
    screenshot(page, f"e2e-{name}")


def wait_until(condition: Callable[[], object], *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def signed_lemonsqueezy_post(platform: Platform, body: dict) -> httpx.Response:
    raw = json.dumps(body)
    return httpx.post(
        f"{platform.url}/api/webhooks/lemonsqueezy",
        content=raw,
        headers={
            "Content-Type": "application/json",
            "X-Signature": lemonsqueezy_signature(raw, LEMONSQUEEZY_WEBHOOK_SECRET),
            "X-Event-Name": body["meta"]["event_name"],
        },
        timeout=30,
    )


# --- the steps of a person's day ---


def sign_up(page, platform: Platform, email: str) -> None:
    page.goto(f"{platform.url}/signup/")
    page.get_by_label(re.compile("name", re.I)).first.fill("Ana Tester")
    page.get_by_label(re.compile("e-?mail", re.I)).fill(email)
    page.get_by_label(re.compile("password", re.I)).fill("a-long-Pa55word!")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"/app/chat/"))


def upgrade_to_pro(page, platform: Platform, user: User) -> None:
    page.goto(f"{platform.url}/billing/")
    shot(page, "billing-free")
    page.get_by_role(
        "button", name=re.compile("Upgrade to Pro with LemonSqueezy")
    ).click()
    page.wait_for_url(f"{platform.lemonsqueezy.url}/checkout/**")
    checkout_id = page.url.split("/checkout/custom/")[1].split("?")[0]
    # The customer pays on the provider's page; the provider signs a webhook.
    resource, custom = platform.lemonsqueezy.complete_checkout(checkout_id)
    assert custom.get("user_id") == str(user.pk)
    body = platform.lemonsqueezy.webhook_payload(
        "subscription_created", resource, custom
    )
    assert signed_lemonsqueezy_post(platform, body).status_code in (200, 202)
    wait_until(
        lambda: Subscription.objects.filter(
            user=user, plan__slug="pro", status="active"
        ).exists(),
        timeout=60,
        what="the worker to activate Pro",
    )
    page.goto(f"{platform.url}/billing/")
    heading = page.get_by_role("heading", name=re.compile("Your plan: Pro"))
    heading.wait_for(timeout=STEP_TIMEOUT_MS)
    shot(page, "billing-pro")


# Records the last reply's text length at every DOM change while streaming.
WATCH_REPLY = """() => {
  window.__lengths = [];
  const chat = document.getElementById("chat");
  new MutationObserver(() => {
    const bodies = document.querySelectorAll(
      ".chat-message--assistant .chat-message__body");
    const last = bodies[bodies.length - 1];
    if (last && chat.dataset.streaming === "true") {
      window.__lengths.push(last.textContent.length);
    }
  }).observe(document.getElementById("chat-messages"),
             {subtree: true, childList: true, characterData: true});
}"""


def send(page, text: str) -> None:
    page.get_by_label("Your message").fill(text)
    page.get_by_role("button", name="Send").click()


def chat_and_watch_the_reply_stream_in(page, demo) -> None:
    demo.state.tokens_per_second = 40
    page.evaluate(WATCH_REPLY)
    send(page, "Tell me about cold brew [[words:40]]")
    page.locator(".chat-message--assistant[data-message-id]").wait_for()
    lengths = page.evaluate("window.__lengths")
    assert len(set(lengths)) >= 3, lengths  # several updates before completion
    shot(page, "chat")


def stop_a_stream(page, demo) -> None:
    demo.state.tokens_per_second = 20  # 200 words: ten seconds, unless stopped
    page.evaluate(WATCH_REPLY)
    send(page, "A long story, please [[words:200]]")
    page.wait_for_function("window.__lengths.length >= 2")
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped.", exact=True).first.wait_for()
    shown = page.locator(".chat-message--assistant").last.inner_text()
    page.wait_for_timeout(500)  # nothing more arrives
    assert page.locator(".chat-message--assistant").last.inner_text() == shown
    demo.state.tokens_per_second = 0


def run_out_of_free_quota(page) -> None:
    alert = page.locator("#chat-quota-exhausted")
    for attempt in range(FREE_REQUESTS_PER_DAY + 1):
        if alert.is_visible():
            break
        replies = page.locator(".chat-message--assistant[data-message-id]").count()
        send(page, f"One more question, number {attempt} [[words:5]]")
        page.wait_for_function(
            """(before) => !document.getElementById("chat-quota-exhausted").hidden
              || document.querySelectorAll(
                   ".chat-message--assistant[data-message-id]").length > before""",
            arg=replies,
        )
    alert.wait_for(state="visible")
    assert "used today's allowance" in alert.inner_text()
    assert (
        alert.get_by_role("link", name="Upgrade your plan").get_attribute("href")
        == "/billing/"
    )
    shot(page, "chat-quota")


def usage_shows_the_pro_limits(page, platform: Platform) -> None:
    pro = Plan.objects.get(slug="pro")
    page.goto(f"{platform.url}/app/usage/")
    meter = page.locator('[data-meter="requests"]')
    assert f"of {pro.requests_per_day} requests used" in meter.inner_text()
    shot(page, "usage")


def create_an_api_key_and_see_it_once(page, platform: Platform) -> None:
    page.goto(f"{platform.url}/app/settings/")
    page.get_by_label("Key name").fill("my laptop")
    page.get_by_role("button", name="Create a key").click()
    shown = page.locator("[data-new-api-key]")
    key = shown.inner_text().strip()
    assert key.startswith("fmk_"), key
    shot(page, "settings-api-key")
    # the key works against the API
    answer = httpx.get(
        f"{platform.url}/v1/models",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    page.goto(f"{platform.url}/app/settings/")
    assert key not in page.content()  # shown once, never again
    assert page.locator("tr[data-api-key]").filter(has_text="my laptop").count() == 1


def generate_a_blog_post_and_watch_it_finish(page, platform: Platform) -> None:
    page.goto(f"{platform.url}/app/studio/")
    page.get_by_label("Blog post").check()
    page.get_by_label("Brief (for audio: the text to read aloud)").fill(
        "Cold brew at home"
    )
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url("**/app/studio/jobs/*/")
    page.evaluate("window.__samePage = true")
    page.locator("#job-panel[data-status=succeeded]").wait_for(timeout=60_000)
    assert page.evaluate("window.__samePage") is True  # followed live, no reload
    assert page.locator(".job-result__text h1").inner_text() == "Cold brew at home"
    shot(page, "studio-job")


def switch_to_spanish(page, platform: Platform, user: User) -> None:
    page.goto(f"{platform.url}/billing/")
    page.get_by_label("Language").first.select_option("es")
    page.wait_for_function("document.documentElement.lang === 'es'")
    assert page.get_by_role("heading", name="Facturación", exact=True).is_visible()
    user.refresh_from_db()
    assert user.language == "es"  # remembered on the user
    shot(page, "billing-es")
    page.context.clear_cookies(name="django_language")  # the account remembers it
    page.goto(f"{platform.url}/billing/")
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.get_by_role("heading", name="Tu plan: Pro").is_visible()


def test_a_new_user_chats_upgrades_and_creates_in_the_browser(
    platform, demo_server, browser_page
):
    page = browser_page
    page.set_default_timeout(STEP_TIMEOUT_MS)
    email = f"ana-{uuid.uuid4().hex[:8]}@example.com"
    sign_up(page, platform, email)
    user = User.objects.get(email=email)
    try:
        chat_and_watch_the_reply_stream_in(page, demo_server)
        stop_a_stream(page, demo_server)
        run_out_of_free_quota(page)
    finally:
        demo_server.state.tokens_per_second = 0
    upgrade_to_pro(page, platform, user)
    usage_shows_the_pro_limits(page, platform)
    create_an_api_key_and_see_it_once(page, platform)
    generate_a_blog_post_and_watch_it_finish(page, platform)
    switch_to_spanish(page, platform, user)
    assert page.errors == []


# --- staff ---


@pytest.fixture
def staff_user(platform) -> User:
    return UserFactory(is_staff=True, email=f"staff-{uuid.uuid4().hex[:8]}@example.com")


def _usage_today(user: User, *, calls: int) -> None:
    now = datetime.now(tz=UTC)
    for index in range(calls):
        usage_record_store(
            payload={
                "kind": "usage",
                "event_key": f"e2e-{uuid.uuid4().hex}",
                "user_id": user.pk,
                "api_key_id": None,
                "endpoint": "chat",
                "model": "demo-chat",
                "provider": "demo",
                "status": "success",
                "prompt_tokens": 40,
                "completion_tokens": 60 + index,
                "cost": "0.010000",
                "currency": "USD",
                "latency_ms": 90,
                "request_id": f"req_e2e_{index}",
                "error_code": "",
                "estimated": False,
                "created_at": (now - timedelta(days=index % 3)).isoformat(),
            }
        )


def _failed_subscription_event(platform: Platform, user: User) -> WebhookEvent:
    """A delivery of a real LemonSqueezy event that failed every retry (the
    provider was down then); it is fine now."""
    checkout = httpx.post(
        f"{platform.lemonsqueezy.url}/v1/checkouts",
        json={
            "data": {
                "type": "checkouts",
                "attributes": {"checkout_data": {"custom": {"user_id": str(user.pk)}}},
                "relationships": {
                    "store": {
                        "data": {
                            "type": "stores",
                            "id": platform.lemonsqueezy.store_id,
                        }
                    },
                    "variant": {
                        "data": {"type": "variants", "id": LS_VARIANTS["starter"]}
                    },
                },
            }
        },
        headers={
            "Authorization": f"Bearer {platform.lemonsqueezy.api_key}",
            "Content-Type": "application/vnd.api+json",
            "Accept": "application/vnd.api+json",
        },
        timeout=10,
    )
    assert checkout.status_code == 201, checkout.text
    resource, custom = platform.lemonsqueezy.complete_checkout(
        checkout.json()["data"]["id"]
    )
    body = platform.lemonsqueezy.webhook_payload(
        "subscription_created", resource, custom
    )
    raw = json.dumps(body)
    now = datetime.now(tz=UTC)
    return WebhookEvent.objects.create(
        provider="lemonsqueezy",
        event_id=f"ls-e2e-{uuid.uuid4().hex[:8]}",
        event_type="subscription_created",
        payload=raw,
        headers={"X-Event-Name": "subscription_created"},
        body_sha256="0" * 64,
        received_at=now - timedelta(hours=1),
        status=EventStatus.FAILED,
        attempts=6,
        last_error="PaymentProviderUnavailable: LemonSqueezy answered 503",
        last_attempt_at=now - timedelta(minutes=30),
    )


def test_staff_see_charts_with_data_and_retry_a_failed_webhook(
    platform, staff_user, browser_page, login_in_browser
):
    page = browser_page
    page.set_default_timeout(STEP_TIMEOUT_MS)
    customer = UserFactory(email=f"customer-{uuid.uuid4().hex[:8]}@example.com")
    _usage_today(customer, calls=6)
    event = _failed_subscription_event(platform, customer)

    login_in_browser(page, staff_user, platform)
    page.goto(f"{platform.url}/staff/")
    requests_chart = page.locator("figure.chart").filter(
        has_text=re.compile("AI requests per day")
    )
    assert requests_chart.locator("rect.chart-mark").count() == 30
    assert page.locator("figure.chart svg").count() >= 3  # requests, tokens, cost
    heights = requests_chart.locator("rect.chart-mark").evaluate_all(
        "marks => marks.map(m => m.getBBox().height)"
    )
    assert max(heights) > 0  # data drawn, not an empty frame
    shot(page, "staff-dashboard")

    page.goto(f"{platform.url}/staff/webhooks/")
    row = page.locator(f'tr[data-event-id="{event.event_id}"]')
    row.wait_for()
    shot(page, "staff-webhooks")
    row.get_by_role("button", name=re.compile("Retry")).click()
    page.get_by_text("The event was re-queued").wait_for()
    wait_until(
        lambda: WebhookEvent.objects.filter(
            pk=event.pk, status=EventStatus.PROCESSED
        ).exists(),
        timeout=60,
        what="the worker to process the retried event",
    )
    assert Subscription.objects.get(user=customer).plan.slug == "starter"
    page.reload()
    assert page.locator(f'tr[data-event-id="{event.event_id}"]').count() == 0

    page.goto(f"{platform.url}/staff/users/")
    page.get_by_label("Search by e-mail or name").fill("customer-")
    page.get_by_role("button", name="Search").click()
    assert page.locator("table.staff-users tbody tr").count() == 1
    shot(page, "staff-users")
    page.goto(f"{platform.url}/staff/notify/")
    shot(page, "staff-notify")
