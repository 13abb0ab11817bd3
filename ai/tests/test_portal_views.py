"""The portal's chat and studio pages through Django's test client: log-in
required, other users' conversations and jobs are 404 pages (as are bad ids),
replies rendered as Markdown with raw HTML escaped, the studio form submits a job
through the same service as the API and explains a bad option in words."""

import re

import pytest
from django.test import Client

from accounts.tests.factories import UserFactory
from ai.models import ContentJob, Conversation, Message
from ai.tasks import job_run_task
from billing.tests.factories import subscription_row

pytestmark = pytest.mark.usefixtures("catalogue")

PAGES = [
    "/app/chat/",
    "/app/chat/1/",
    "/app/chat/quota/",
    "/app/studio/",
    "/app/studio/jobs/1/",
    "/app/studio/jobs/1/panel/",
    "/app/usage/",
]


@pytest.fixture
def owner(db):
    return UserFactory()


@pytest.fixture
def signed_in(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def enqueued(monkeypatch) -> list[dict]:
    calls: list[dict] = []
    monkeypatch.setattr(job_run_task, "apply_async", lambda **kw: calls.append(kw))
    return calls


def _conversation(user, **fields) -> Conversation:
    return Conversation.objects.create(user=user, title=fields.pop("title", "Plans"))


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_anonymous_visitors_to_log_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/login/?next={path}")


def test_chat_lists_conversations_and_offers_the_plans_models_only(signed_in, owner):
    _conversation(owner, title="Trip to Lisbon")
    _conversation(UserFactory(), title="Someone else's secret")
    response = signed_in.get("/app/chat/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Trip to Lisbon" in body
    assert "Someone else" not in body
    assert 'value="flowmatik-demo"' in body
    assert 'value="flowmatik-demo-pro"' not in body  # a Pro model on Free
    assert "requests left today" in body


def test_a_pro_subscriber_may_pick_pro_models(signed_in, owner):
    subscription_row(user=owner, plan="pro")
    body = signed_in.get("/app/chat/").content.decode()
    assert 'value="flowmatik-demo-pro"' in body


@pytest.mark.parametrize(
    "path",
    [
        "/app/chat/abc/",
        "/app/chat/0/",
        "/app/chat/99999999999999999999999/",
        "/app/chat/-1/",
        "/app/studio/jobs/abc/",
        "/app/studio/jobs/99999999999999999999999/",
        "/app/chat/1/messages/xyz/",
    ],
)
def test_bad_ids_are_a_404_page_not_an_error(signed_in, path):
    assert signed_in.get(path).status_code == 404


def test_another_users_conversation_is_404_everywhere(signed_in):
    other = _conversation(UserFactory(), title="Not yours")
    reply = Message.objects.create(conversation=other, role="assistant", content="x")
    assert signed_in.get(f"/app/chat/{other.pk}/").status_code == 404
    assert (
        signed_in.get(f"/app/chat/{other.pk}/messages/{reply.pk}/").status_code == 404
    )
    assert (
        signed_in.post(f"/app/chat/{other.pk}/rename/", {"title": "Mine"}).status_code
        == 404
    )
    assert signed_in.post(f"/app/chat/{other.pk}/delete/").status_code == 404
    other.refresh_from_db()
    assert other.title == "Not yours"


def test_rename_and_delete_a_conversation(signed_in, owner):
    conversation = _conversation(owner)
    response = signed_in.post(
        f"/app/chat/{conversation.pk}/rename/", {"title": "  Lisbon   trip "}
    )
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.title == "Lisbon trip"
    page = signed_in.get(f"/app/chat/{conversation.pk}/").content.decode()
    assert "Conversation renamed." in page

    empty = signed_in.post(f"/app/chat/{conversation.pk}/rename/", {"title": "  "})
    assert empty.status_code == 302
    conversation.refresh_from_db()
    assert conversation.title == "Lisbon trip"

    assert signed_in.get(f"/app/chat/{conversation.pk}/delete/").status_code == 405
    response = signed_in.post(f"/app/chat/{conversation.pk}/delete/")
    assert response["Location"] == "/app/chat/"
    assert not Conversation.objects.filter(pk=conversation.pk).exists()


PAYLOAD = '<script>alert(1)</script> <img src=x onerror="alert(2)"> **bold**'


def test_replies_render_markdown_with_raw_html_escaped(signed_in, owner):
    conversation = _conversation(owner)
    Message.objects.create(conversation=conversation, role="user", content=PAYLOAD)
    reply = Message.objects.create(
        conversation=conversation,
        role="assistant",
        content=f"# Title\n\n{PAYLOAD}\n\n[x](javascript:alert(3))",
    )
    page = signed_in.get(f"/app/chat/{conversation.pk}/").content.decode()
    fragment = signed_in.get(
        f"/app/chat/{conversation.pk}/messages/{reply.pk}/"
    ).content.decode()
    for html in (page, fragment):
        assert "<script>alert" not in html
        assert "<img" not in html
        assert 'href="javascript:' not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<h1>Title</h1>" in fragment
    assert "<strong>bold</strong>" in fragment


def test_the_studio_form_creates_a_job_through_the_service(
    signed_in, owner, enqueued, django_capture_on_commit_callbacks
):
    page = signed_in.get("/app/studio/")
    assert page.status_code == 200
    assert 'name="social_post-network"' in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(
            "/app/studio/",
            {
                "type": "blog_post",
                "prompt": "Cold brew at home",
                "blog_post-title": "Cold brew",
                "blog_post-keywords": "coffee, summer",
                "blog_post-length": "short",
                "social_post-network": "x",  # another format's input: ignored
            },
        )
    job = ContentJob.objects.get(user=owner)
    assert response.status_code == 302
    assert response["Location"] == f"/app/studio/jobs/{job.pk}/"
    assert job.options["keywords"] == ["coffee", "summer"]
    assert job.options["length"] == "short"
    assert "network" not in job.options
    assert [c["args"] for c in enqueued] == [[job.pk]]

    panel = signed_in.get(f"/app/studio/jobs/{job.pk}/panel/").content.decode()
    assert f'data-poll-url="/app/studio/jobs/{job.pk}/panel/"' in panel  # still queued
    job_run_task(job.pk)
    panel = signed_in.get(f"/app/studio/jobs/{job.pk}/panel/").content.decode()
    assert "data-poll-url" not in panel
    assert "Copy text" in panel
    assert "<h1>Cold brew at home</h1>" in panel  # Markdown rendered


def test_the_studio_runs_a_reasoned_job_and_shows_its_steps(
    signed_in, owner, enqueued, django_capture_on_commit_callbacks
):
    subscription_row(user=owner, plan="pro")  # reasoning up to depth 2
    page = signed_in.get("/app/studio/").content.decode()
    assert '<option value="2">2 review rounds</option>' in page
    upgrade = '<option value="3" disabled>3 review rounds — upgrade your plan</option>'
    assert upgrade in page
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(
            "/app/studio/",
            {"type": "email", "prompt": "Welcome aboard", "reasoning_depth": "2"},
        )
    job = ContentJob.objects.get(user=owner)
    assert response.status_code == 302
    assert job.reasoning_depth == 2
    job_run_task(job.pk)
    panel = signed_in.get(f"/app/studio/jobs/{job.pk}/panel/").content.decode()
    steps = re.findall(r'data-step="(\w+)"', panel)
    assert steps[0] == "plan"
    assert steps.count("critique") == 2  # one per review round
    assert f"{len(steps)} reasoning steps" in panel


def test_a_reasoning_depth_the_plan_lacks_is_refused_in_words(
    signed_in, owner, enqueued
):
    page = signed_in.get("/app/studio/").content.decode()  # Free: no reasoning
    assert "your plan does not include reasoning" in page
    response = signed_in.post(
        "/app/studio/",
        {"type": "email", "prompt": "Welcome", "reasoning_depth": "1"},
    )
    assert response.status_code == 400
    assert "reasoning depth" in response.content.decode()
    nonsense = signed_in.post(
        "/app/studio/", {"type": "email", "prompt": "Hi", "reasoning_depth": "deep"}
    )
    assert nonsense.status_code == 400
    assert not ContentJob.objects.exists()


def test_a_bad_option_is_explained_in_words_and_nothing_is_created(signed_in, enqueued):
    response = signed_in.post(
        "/app/studio/",
        {"type": "social_post", "prompt": "Launch", "social_post-count": "99"},
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "Number of variants" in body
    assert "less than or equal to 5" in body
    assert 'value="99"' in body  # what was typed stays
    assert not ContentJob.objects.exists()
    unknown = signed_in.post("/app/studio/", {"type": "poem", "prompt": "x"})
    assert unknown.status_code == 400
    assert not ContentJob.objects.exists()


def test_a_format_above_the_plan_is_refused_in_words(signed_in, enqueued):
    response = signed_in.post("/app/studio/", {"type": "video", "prompt": "A fox"})
    assert response.status_code == 400
    assert "plan" in response.content.decode().lower()
    assert not ContentJob.objects.exists()


def test_job_history_searches_and_hides_other_users_jobs(signed_in, owner, enqueued):
    for prompt in ("Cold brew at home", "Tea ceremony"):
        signed_in.post("/app/studio/", {"type": "email", "prompt": prompt})
    stranger = UserFactory()
    theirs = ContentJob.objects.create(user=stranger, type="email", prompt="Secret")
    page = signed_in.get("/app/studio/?q=brew").content.decode()
    assert "Cold brew at home" in page
    assert "Tea ceremony" not in page
    assert "Secret" not in page
    assert signed_in.get("/app/studio/?page=abc&status=nope").status_code == 200
    assert signed_in.get(f"/app/studio/jobs/{theirs.pk}/").status_code == 404
    assert signed_in.get(f"/app/studio/jobs/{theirs.pk}/panel/").status_code == 404
    assert signed_in.post(f"/app/studio/jobs/{theirs.pk}/cancel/").status_code == 404


def test_cancel_a_queued_job_from_its_page(signed_in, owner, enqueued):
    signed_in.post("/app/studio/", {"type": "email", "prompt": "Welcome"})
    job = ContentJob.objects.get(user=owner)
    response = signed_in.post(f"/app/studio/jobs/{job.pk}/cancel/", follow=True)
    job.refresh_from_db()
    assert job.status == "canceled"
    assert "The job was canceled." in response.content.decode()
    again = signed_in.post(f"/app/studio/jobs/{job.pk}/cancel/", follow=True)
    assert again.status_code == 200


def test_without_javascript_the_form_gets_a_complete_reply(
    transactional_db, signed_in, owner
):
    response = signed_in.post("/app/chat/send/", {"message": "Hello there"})
    conversation = Conversation.objects.get(user=owner)
    assert response.status_code == 302
    assert response["Location"] == f"/app/chat/{conversation.pk}/"
    page = signed_in.get(response["Location"]).content.decode()
    assert "You said: “Hello there”" in page
    again = signed_in.post(
        "/app/chat/send/",
        {"message": "And again", "conversation_id": str(conversation.pk)},
    )
    assert again["Location"] == f"/app/chat/{conversation.pk}/"
    assert conversation.messages.count() == 4


def test_without_javascript_a_reasoned_reply_runs_its_steps(
    transactional_db, signed_in, owner
):
    from usage.models import UsageRecord
    from usage.services import usage_events_drain

    subscription_row(user=owner, plan="pro")
    response = signed_in.post(
        "/app/chat/send/", {"message": "Plan a tea tasting", "reasoning_depth": "1"}
    )
    assert response.status_code == 302
    usage_events_drain()  # with Redis, records are stored in the background
    endpoints = list(
        UsageRecord.objects.filter(user=owner).values_list("endpoint", flat=True)
    )
    assert "portal.chat.reasoning" in endpoints  # the steps, each metered
    assert endpoints.count("portal.chat") == 1  # then the answer
    bad = signed_in.post(
        "/app/chat/send/", {"message": "hi", "reasoning_depth": "9"}, follow=True
    )
    assert "Reasoning depth is 1, 2 or 3." in bad.content.decode()
    free_user = UserFactory()
    signed_in.force_login(free_user)
    refused = signed_in.post(
        "/app/chat/send/", {"message": "hi", "reasoning_depth": "1"}, follow=True
    )
    assert "does not include this reasoning depth" in refused.content.decode()
    assert not Conversation.objects.filter(user=free_user).exists()


def test_without_javascript_bad_input_is_explained(transactional_db, signed_in, owner):
    empty = signed_in.post("/app/chat/send/", {"message": "   "}, follow=True)
    assert empty.status_code == 200
    assert Conversation.objects.count() == 0
    assert "Write a message of 1 to" in empty.content.decode()
    theirs = _conversation(UserFactory())
    response = signed_in.post(
        "/app/chat/send/", {"message": "hi", "conversation_id": str(theirs.pk)}
    )
    assert response.status_code == 404


def test_without_javascript_an_exhausted_quota_points_to_billing(
    transactional_db, signed_in, owner
):
    from billing.selectors import plan_info_for_user_id
    from usage.tests.conftest import admit

    for _ in range(plan_info_for_user_id(user_id=owner.pk).requests_per_day):
        admit(owner.pk)
    response = signed_in.post("/app/chat/send/", {"message": "hi"}, follow=True)
    assert "used today&#x27;s allowance" in response.content.decode()
    assert Conversation.objects.count() == 0


def test_the_pages_speak_the_users_spanish(client, enqueued):
    user = UserFactory(language="es")
    client.force_login(user)
    chat = client.get("/app/chat/").content.decode()
    assert "Tu mensaje" in chat
    assert "Mejora tu plan" in chat
    assert "peticiones hoy" in chat
    studio = client.get("/app/studio/").content.decode()
    assert "Estudio de contenido" in studio
    assert "Artículo de blog" in studio
    assert "Número de variantes" in studio
    usage = client.get("/app/usage/").content.decode()
    assert "Los últimos 30 días por modelo" in usage
    assert "Coste (USD)" in usage


def test_media_results_are_previewed_played_and_downloadable(
    signed_in, owner, enqueued, django_capture_on_commit_callbacks
):
    subscription_row(user=owner, plan="pro")
    with django_capture_on_commit_callbacks(execute=True):
        signed_in.post(
            "/app/studio/",
            {"type": "image", "prompt": "A red fox", "image-count": "2"},
        )
        signed_in.post(
            "/app/studio/",
            {"type": "audio", "prompt": "Welcome", "audio-format": "wav"},
        )
    image_job, audio_job = ContentJob.objects.filter(user=owner).order_by("id")
    for job in (image_job, audio_job):
        assert job_run_task(job.pk) == "succeeded"

    panel = signed_in.get(f"/app/studio/jobs/{image_job.pk}/panel/").content.decode()
    sources = re.findall(r'<img src="([^"]+)"', panel)
    assert len(sources) == 2
    image = Client().get(sources[0].replace("&amp;", "&"))  # signed: no session
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    downloads = re.findall(r'<a href="([^"]+)" download>', panel)
    assert len(downloads) == 2
    assert all("download=1" in link for link in downloads)

    panel = signed_in.get(f"/app/studio/jobs/{audio_job.pk}/panel/").content.decode()
    assert re.search(r'<audio controls preload="metadata" src="/api/ai/assets/', panel)
    assert "(audio/wav)" in panel
