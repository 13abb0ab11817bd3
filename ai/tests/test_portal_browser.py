"""The chat and the studio in headless Chromium against the live platform: a reply
streams in over the session's socket (several DOM updates before it completes) and
is shown sanitised, Stop cancels it, an exhausted quota says so with an upgrade
link, and a blog post generated in the studio is watched to the end (a real Celery
worker runs it)."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from celery.contrib.testing.worker import start_worker

from accounts.tests.factories import UserFactory
from ai.models import ContentJob, Message
from flowmatik.celery import app as celery_app
from flowmatik.testing.browser import screenshot
from flowmatik.testing.servers import wait_for
from usage.tests.conftest import admit

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("catalogue_tx")]

# Collects the reply's text length at every DOM change while the page says it is
# streaming, and whether a hostile payload ever ran.
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


NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture
def paced(portal_server):
    """The demo model streams `tokens_per_second` (reset afterwards)."""
    state = portal_server.demo.state

    def pace(tokens_per_second: float) -> None:
        state.tokens_per_second = tokens_per_second

    yield pace
    state.tokens_per_second = 0.0


@pytest.fixture
def member(transactional_db):
    return UserFactory()


def _open_chat(page, server, user, login_in_browser):
    login_in_browser(page, user, server)
    page.goto(server.url("/app/chat/"))
    page.evaluate(WATCH_REPLY)


def test_a_reply_streams_in_then_shows_sanitised_markdown(
    portal_server, browser_page, login_in_browser, member, paced
):
    page = browser_page
    paced(40)
    _open_chat(page, portal_server, member, login_in_browser)
    payload = '<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script>'
    page.get_by_label("Your message").fill(f"{payload} tell me more [[words:40]]")
    page.get_by_role("button", name="Send").click()

    reply = page.locator(".chat-message--assistant[data-message-id]")
    reply.wait_for()  # the stored reply, rendered by the server, swapped in
    lengths = page.evaluate("window.__lengths")
    assert len(set(lengths)) >= 3, lengths  # several updates before completion
    assert lengths == sorted(lengths)
    assert page.get_by_role("status").inner_text() == "Reply complete."
    assert "onerror" in reply.inner_text()  # shown as text ...
    assert page.locator("#chat-messages img").count() == 0  # ... never as HTML
    assert page.evaluate("window.__xss") is None
    assert "/app/chat/" in page.url
    assert (
        page.locator("#chat-list a[aria-current=page]")
        .inner_text()
        .startswith('<img src=x onerror="window.__xss=1">')
    )
    assert page.url.rstrip("/").split("/")[-1].isdigit()

    page.reload()  # the stored conversation, rendered by the server
    assert "onerror" in page.locator(".chat-message--user").inner_text()
    assert page.locator("#chat-messages img, #chat-messages script").count() == 0
    assert page.evaluate("window.__xss") is None
    assert "left today" in page.locator("#chat-quota").inner_text()
    screenshot(page, "portal-chat")
    assert page.errors == []


def test_reasoning_steps_are_listed_live_and_kept_with_the_reply(
    portal_server, browser_page, login_in_browser, member, paced
):
    from billing.tests.factories import subscription_row

    subscription_row(user=member, plan="pro")
    page = browser_page
    paced(40)
    _open_chat(page, portal_server, member, login_in_browser)
    page.get_by_label("Reasoning").select_option("1")
    page.get_by_label("Your message").fill("[[delay:0.3]] Plan a tea tasting")
    page.get_by_role("button", name="Send").click()
    steps = page.locator(".chat-message--assistant .chat-steps li")
    steps.first.wait_for(state="attached")  # the plan step, while the turn runs
    assert page.evaluate("document.getElementById('chat').dataset.streaming") == (
        "true"
    )
    assert steps.first.get_attribute("data-step") == "plan"
    page.locator(".chat-message--assistant[data-message-id]").wait_for()
    kept = page.locator(".chat-message--assistant[data-message-id] .chat-steps li")
    names = [kept.nth(i).get_attribute("data-step") for i in range(kept.count())]
    assert names[0] == "plan", names
    assert "critique" in names, names
    assert page.get_by_role("status").inner_text() == "Reply complete."
    assert page.errors == []


def test_stop_cancels_a_streaming_reply(
    portal_server, browser_page, login_in_browser, member, paced
):
    page = browser_page
    paced(20)  # 200 words: ten seconds, unless stopped
    _open_chat(page, portal_server, member, login_in_browser)
    page.get_by_label("Your message").fill("A long story please [[words:200]]")
    page.get_by_role("button", name="Send").click()
    page.wait_for_function("() => window.__lengths.length >= 2")
    page.get_by_role("button", name="Stop").click()

    page.get_by_text("Stopped.", exact=True).first.wait_for()
    assert page.get_by_role("button", name="Stop").is_hidden()
    shown = page.locator(".chat-message--assistant").last.inner_text()
    page.wait_for_timeout(600)  # nothing more arrives
    assert page.locator(".chat-message--assistant").last.inner_text() == shown
    assert wait_for(
        lambda: Message.objects.filter(
            conversation__user=member, role="assistant", status="partial"
        ).exists()
    )
    saved = Message.objects.get(conversation__user=member, role="assistant")
    assert 0 < len(saved.content.split()) < 200


def test_an_exhausted_quota_says_so_with_an_upgrade_link(
    portal_server, browser_page, login_in_browser, member
):
    from billing.selectors import plan_info_for_user_id

    allowance = plan_info_for_user_id(user_id=member.pk).requests_per_day
    with ThreadPoolExecutor(1) as pool:  # off Playwright's event loop
        pool.submit(lambda: [admit(member.pk) for _ in range(allowance)]).result()
    page = browser_page
    _open_chat(page, portal_server, member, login_in_browser)
    page.get_by_label("Your message").fill("One more, please")
    page.get_by_role("button", name="Send").click()

    alert = page.locator("#chat-quota-exhausted")
    alert.wait_for(state="visible")
    assert "used today's allowance" in alert.inner_text()
    link = alert.get_by_role("link", name="Upgrade your plan")
    assert link.get_attribute("href") == "/billing/"
    assert page.locator(".chat-message--assistant").count() == 0
    screenshot(page, "portal-chat-quota")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    assert alert.is_visible()
    screenshot(page, "portal-chat-phone")
    link.click()
    page.wait_for_url("**/billing/")


def test_a_blog_post_is_watched_to_the_end_in_the_studio(
    portal_server, browser_page, login_in_browser, member, settings
):
    queue = f"test-{uuid.uuid4().hex[:12]}"
    settings.STUDIO_TASK_QUEUE = queue
    settings.STUDIO_SSE_POLL_SECONDS = 0.3
    page = browser_page
    login_in_browser(page, member, portal_server)
    page.goto(portal_server.url("/app/studio/"))
    page.get_by_label("Blog post").check()
    assert page.get_by_label("Network").is_hidden()  # another format's options
    reasoning = page.get_by_label("Reasoning (plan, draft, critique, revise)")
    assert reasoning.is_visible()  # a text format
    page.get_by_label("Image").check()
    assert reasoning.is_hidden()  # not for media
    page.get_by_label("Blog post").check()
    page.get_by_label("Brief (for audio: the text to read aloud)").fill(
        "Cold brew at home"
    )
    options = page.get_by_role("group", name="Options: Blog post")
    options.get_by_label("Length").select_option("short")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url("**/app/studio/jobs/*/")
    assert page.locator("[data-job-status]").inner_text() == "Queued"
    page.evaluate("window.__samePage = true")

    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=[queue]
    ):
        page.locator("#job-panel[data-status=succeeded]").wait_for(timeout=60_000)
    assert page.evaluate("window.__samePage") is True  # followed live, no reload
    assert page.locator(".job-result__text h1").inner_text() == "Cold brew at home"
    assert page.locator("progress").get_attribute("value") == "100"
    job = ContentJob.objects.get(user=member)
    assert job.status == "succeeded"
    assert job.options["length"] == "short"
    page.get_by_role("button", name="Copy text").click()
    page.get_by_text("Copied.").wait_for()
    screenshot(page, "portal-studio-job")

    page.goto(portal_server.url("/app/studio/?q=brew"))
    assert page.locator("#job-history").get_by_role("link").count() == 1
    screenshot(page, "portal-studio")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    assert page.errors == []
