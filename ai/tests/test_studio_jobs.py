"""Content jobs run by their Celery task bodies against the demo model over HTTP.

Jobs are created through the API; the task is then called in-process (the task
body; the real-worker round trip is in test_studio_worker.py). Usage is read back
through the usage app (counters and stored records), files through the signed
asset links the job lists.
"""

import io
import wave
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from PIL import Image

from ai.models import ContentAsset, ContentJob
from ai.tasks import job_run_task, job_video_poll_task, jobs_sweep_task
from billing.tests.factories import subscription_row
from notifications.models import Notification

pytestmark = pytest.mark.usefixtures("catalogue")


def _plan(user, plan="pro"):
    from billing.selectors import plan_cache_invalidate

    subscription_row(user=user, plan=plan)
    plan_cache_invalidate(user_id=user.pk)


def _create(client, kind, prompt, **options):
    response = client.post(
        "/api/ai/generate-content",
        {"type": kind, "prompt": prompt, "options": options},
        format="json",
    )
    assert response.status_code == 202, response.content
    return response.json()["id"]


def _job(client, job_id):
    response = client.get(f"/api/ai/jobs/{job_id}")
    assert response.status_code == 200
    return response.json()


def _records(user, endpoint_prefix="studio."):
    from usage.models import UsageRecord
    from usage.services import usage_events_drain

    usage_events_drain()
    return list(
        UsageRecord.objects.filter(
            user=user, endpoint__startswith=endpoint_prefix
        ).order_by("id")
    )


def _requests_today(user) -> int:
    from usage.selectors import quota_state_for_user

    return quota_state_for_user(user_id=user.pk).requests_used


def _fetch(api_client, url, **headers):
    return api_client.get(url, **headers)


def _body(response) -> bytes:
    """The body of a (sync or async) streaming response."""
    from asgiref.sync import async_to_sync

    content = response.streaming_content
    if not hasattr(content, "__aiter__"):
        return b"".join(content)

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in content])

    return async_to_sync(collect)()


# --- text


def test_a_text_job_stores_its_result_usage_and_a_notification(auth_client, user):
    job_id = _create(auth_client, "email", "Launch of our cold brew", purpose="welcome")
    assert job_run_task(job_id) == "succeeded"
    body = _job(auth_client, job_id)
    assert body["status"] == "succeeded"
    assert body["progress"] == 100
    assert body["result"]["subject"] == "Launch of our cold brew"
    assert "Local demo model" in body["result"]["body"]
    assert body["result_text"].startswith("Subject: ")
    assert body["usage"]["prompt_tokens"] > 0
    assert body["usage"]["completion_tokens"] > 0
    assert Decimal(body["cost"]) > 0
    assert body["error"] is None
    [record] = _records(user)
    assert record.endpoint == "studio.email"
    assert record.status == "success"
    assert record.model == "flowmatik-demo"
    assert record.cost == Decimal(body["cost"])
    assert _requests_today(user) == 1
    notification = Notification.objects.get(user=user, kind="job.completed")
    assert notification.data == {
        "job_id": job_id,
        "job_type": "email",
        "status": "succeeded",
    }


def test_running_a_finished_job_again_changes_nothing(auth_client, user, ai_demo):
    job_id = _create(auth_client, "product_description", "A blue mug")
    job_run_task(job_id)
    calls = len(ai_demo.chat_calls())
    assert job_run_task(job_id) == "succeeded"
    assert len(ai_demo.chat_calls()) == calls
    assert len(_records(user)) == 1
    assert Notification.objects.filter(user=user, kind="job.completed").count() == 1


def test_brand_voice_language_and_options_reach_the_model(auth_client, user, ai_demo):
    """The agent's prompt, the profile and the type's options shape the prompt."""
    user.brand_voice = "Warm and witty"
    user.language = "es"
    user.save(update_fields=["brand_voice", "language"])
    from ai.context import profile_context_invalidate

    profile_context_invalidate(user_id=user.pk)
    response = auth_client.post(
        "/api/ai/generate-content",
        {
            "type": "blog_post",
            "prompt": "Coffee origins",
            "agent": "copywriter",
            "options": {"tone": "playful", "keywords": ["arabica"]},
        },
        format="json",
    )
    job_id = response.json()["id"]
    job_run_task(job_id)
    system = ai_demo.chat_calls()[-1]["body"]["messages"][0]["content"]
    assert system.startswith("You are a senior copywriter.")
    assert "Content type: blog_post." in system
    assert "Brand voice: Warm and witty" in system
    assert "Write in Spanish." in system
    assert "Tone: playful." in system
    assert "Keywords: arabica." in system
    body = _job(auth_client, job_id)
    assert body["result"]["title"] == "Coffee origins"
    assert body["language"] == "es"


@pytest.mark.parametrize(
    ("kind", "options", "check"),
    [
        ("ad_copy", {"platform": "google", "variants": 2}, "variants"),
        ("video_script", {"scenes": 3}, "scenes"),
        ("seo_meta", {}, "keywords"),
    ],
)
def test_each_text_type_gets_its_structured_result(auth_client, kind, options, check):
    job_id = _create(auth_client, kind, "Cold brew kit", **options)
    job_run_task(job_id)
    result = _job(auth_client, job_id)["result"]
    expected = options.get("variants") or options.get("scenes")
    if expected:
        assert len(result[check]) == expected
    else:
        assert result[check]


# --- social networks' length limits


def test_an_over_long_post_is_regenerated_once_with_a_shorter_target(
    auth_client, user, ai_demo
):
    job_id = _create(
        auth_client,
        "social_post",
        "Cold brew [[words:120]] [[overlong:1]]",
        network="x",
    )
    job_run_task(job_id)
    body = _job(auth_client, job_id)
    assert body["status"] == "succeeded"
    assert body["result"]["notes"] == ["regenerated_shorter"]
    assert all(len(v["text"]) <= 280 for v in body["result"]["variants"])
    second = ai_demo.chat_calls()[-1]["body"]["messages"][0]["content"]
    assert "at most 224 characters" in second  # 80% of X's 280
    records = _records(user)
    assert [r.status for r in records] == ["success", "success"]
    assert body["usage"]["prompt_tokens"] == sum(r.prompt_tokens for r in records)


@pytest.mark.parametrize(("network", "limit"), [("x", 280), ("instagram", 2200)])
def test_a_post_still_too_long_is_cut_at_a_sentence_and_the_job_says_so(
    auth_client, network, limit
):
    words = 120 if network == "x" else 480
    job_id = _create(
        auth_client,
        "social_post",
        f"Cold brew [[words:{words}]] [[overlong:9]]",
        network=network,
        count=2,
    )
    job_run_task(job_id)
    result = _job(auth_client, job_id)["result"]
    assert result["notes"] == ["regenerated_shorter", "cut_to_limit"]
    assert result["length_limit"] == f"{network}: {limit} characters"
    assert len(result["variants"]) == 2
    for variant in result["variants"]:
        assert 0 < len(variant["text"]) <= limit
        assert variant["text"].endswith(".")
        assert variant["length"] == len(variant["text"])


def test_a_post_within_the_limit_is_kept_as_written(auth_client, ai_demo):
    job_id = _create(auth_client, "social_post", "Cold brew", network="linkedin")
    job_run_task(job_id)
    assert _job(auth_client, job_id)["result"]["notes"] == []
    assert len(ai_demo.chat_calls()) == 1


def test_seo_title_and_description_limits_hold(auth_client):
    job_id = _create(auth_client, "seo_meta", "Cold brew kit [[overlong:9]]")
    job_run_task(job_id)
    result = _job(auth_client, job_id)["result"]
    assert "cut_to_limit" in result["notes"]
    assert 0 < len(result["title"]) <= 60
    assert 0 < len(result["description"]) <= 160


# --- provider failures and retries


def test_a_provider_failure_fails_the_job_with_a_code_and_charges_nothing(
    auth_client, user, settings
):
    settings.STUDIO_TASK_MAX_RETRIES = 0
    job_id = _create(auth_client, "email", "Hello [[fault:500]]")
    assert job_run_task(job_id) == "failed"
    body = _job(auth_client, job_id)
    assert body["status"] == "failed"
    assert body["error"]["code"] == "provider_error"
    assert body["cost"] == "0.000000"
    assert [r.status for r in _records(user)] == ["error"]
    assert _requests_today(user) == 0
    notification = Notification.objects.get(user=user, kind="job.completed")
    assert notification.data["status"] == "failed"


def test_a_transient_failure_is_retried_later_then_succeeds(
    auth_client, user, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.STUDIO_TASK_MAX_RETRIES = 2
    scheduled = []
    monkeypatch.setattr(job_run_task, "apply_async", lambda **kw: scheduled.append(kw))
    job_id = _create(auth_client, "email", "Hello [[fault:503x3]]")
    with django_capture_on_commit_callbacks(execute=True):
        assert job_run_task(job_id) == "queued"
    [retry] = scheduled
    assert retry["args"] == [job_id]
    assert retry["countdown"] > 0
    assert _job(auth_client, job_id)["status"] == "queued"
    assert job_run_task(job_id) == "succeeded"
    job = ContentJob.objects.get(pk=job_id)
    assert job.attempts == 2
    assert [r.status for r in _records(user)] == ["error", "success"]
    assert _requests_today(user) == 1


def test_an_over_quota_user_gets_a_failed_job_with_quota_exceeded(auth_client, user):
    from usage.services import quota_override_set

    quota_override_set(user_id=user.pk, requests_per_day=0)
    job_id = _create(auth_client, "email", "Hello")
    job_run_task(job_id)
    assert _job(auth_client, job_id)["error"]["code"] == "quota_exceeded"


# --- images, audio


def test_an_image_job_downloads_its_files_and_serves_them_by_signed_link(
    auth_client, user, other_user, api_client, settings
):
    _plan(user, "starter")
    job_id = _create(auth_client, "image", "A red fox", count=2, size="768x512", seed=3)
    assert job_run_task(job_id) == "succeeded"
    body = _job(auth_client, job_id)
    assert len(body["assets"]) == 2
    assert body["usage"]["units"] == "2.000"
    assert body["cost"] == "0.020000"  # 2 images at 0.01
    [record] = _records(user)
    assert (record.endpoint, record.status, record.cost) == (
        "studio.image",
        "success",
        Decimal("0.020000"),
    )
    asset = body["assets"][0]
    assert asset["content_type"] == "image/png"

    # the signed link works without credentials: a real PNG of the asked size
    response = _fetch(api_client, asset["url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline")
    png = _body(response)
    assert len(png) == asset["size_bytes"]
    assert Image.open(io.BytesIO(png)).size == (768, 512)
    download = _fetch(api_client, asset["download_url"])
    assert download["Content-Disposition"].startswith("attachment")

    other = api_client.__class__()
    other.force_authenticate(other_user)
    assert other.get(f"/api/ai/jobs/{job_id}").status_code == 404
    path = asset["url"].split("?")[0]
    # no credentials and no signature: 404; a tampered link: 403
    assert _fetch(api_client, path).status_code == 404
    tampered = asset["url"].replace("signature=", "signature=x")
    assert _fetch(api_client, tampered).json()["error"]["code"] == "invalid_signature"

    # an expired link is refused
    settings.STUDIO_ASSET_URL_SECONDS = -1
    expired = _job(auth_client, job_id)["assets"][0]["url"]
    response = _fetch(api_client, expired)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "link_expired"


def test_an_audio_job_stores_real_audio_with_range_requests(
    auth_client, user, api_client
):
    _plan(user)
    job_id = _create(
        auth_client, "audio", "Welcome to the show", voice="demo:alex", format="wav"
    )
    assert job_run_task(job_id) == "succeeded"
    body = _job(auth_client, job_id)
    [asset] = body["assets"]
    assert asset["content_type"] == "audio/wav"
    # priced per UTF-8 byte: 19 bytes at 1 USD per million
    assert body["usage"]["units"] == "19.000"
    assert body["cost"] == "0.000019"
    whole = _body(_fetch(api_client, asset["url"]))
    with wave.open(io.BytesIO(whole)) as wav:
        assert wav.getnframes() > 0
    part = _fetch(api_client, asset["url"], HTTP_RANGE="bytes=10-19")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 10-19/{len(whole)}"
    assert part["Accept-Ranges"] == "bytes"
    assert _body(part) == whole[10:20]
    tail = _fetch(api_client, asset["url"], HTTP_RANGE="bytes=-4")
    assert _body(tail) == whole[-4:]
    bad = _fetch(api_client, asset["url"], HTTP_RANGE=f"bytes={len(whole)}-")
    assert bad.status_code == 416
    assert bad["Content-Range"] == f"bytes */{len(whole)}"


def test_an_image_provider_failure_fails_the_job_and_charges_nothing(
    auth_client, user, settings
):
    _plan(user)
    settings.STUDIO_TASK_MAX_RETRIES = 0
    job_id = _create(auth_client, "image", "A fox [[fault:500]]")
    assert job_run_task(job_id) == "failed"
    body = _job(auth_client, job_id)
    assert body["error"]["code"] == "provider_error"
    assert body["assets"] == []
    assert [r.status for r in _records(user)] == ["error"]
    assert _requests_today(user) == 0


def test_an_oversized_download_fails_the_job_with_asset_too_large(
    auth_client, user, settings
):
    _plan(user)
    settings.STUDIO_IMAGE_MAX_BYTES = 100
    job_id = _create(auth_client, "image", "A fox")
    job_run_task(job_id)
    assert _job(auth_client, job_id)["error"]["code"] == "asset_too_large"
    assert not ContentAsset.objects.exists()
    assert _requests_today(user) == 0


# --- video


@pytest.fixture
def scheduled_polls(monkeypatch):
    calls = []
    monkeypatch.setattr(
        job_video_poll_task, "apply_async", lambda **kw: calls.append(kw)
    )
    return calls


def test_a_video_job_polls_with_backoff_until_done_and_stores_the_video(
    auth_client, user, api_client, ai_demo, scheduled_polls, settings,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    _plan(user)
    settings.STUDIO_VIDEO_POLL_SECONDS = 2
    settings.STUDIO_VIDEO_POLL_MAX_SECONDS = 5
    job_id = _create(auth_client, "video", "A calm lake [[polls:3]]", size="240x240")
    with django_capture_on_commit_callbacks(execute=True):
        assert job_run_task(job_id) == "running"
    body = _job(auth_client, job_id)
    assert (body["status"], body["progress"]) == ("running", 15)
    progress = [15]
    for _ in range(4):
        call = scheduled_polls[-1]
        with django_capture_on_commit_callbacks(execute=True):
            job_video_poll_task(*call["args"])
        progress.append(_job(auth_client, job_id)["progress"])
    assert [c["countdown"] for c in scheduled_polls] == [2, 4, 5, 5]  # capped backoff
    assert progress == [15, 30, 40, 50, 100]
    status_calls = [e for e in ai_demo.state.log if e["path"] == "/v1/video/status"]
    assert len(status_calls) == 4
    body = _job(auth_client, job_id)
    assert body["status"] == "succeeded"
    [asset] = body["assets"]
    assert asset["content_type"] == "video/x-msvideo"
    data = _body(_fetch(api_client, asset["url"]))
    assert data[:4] == b"RIFF"
    assert data[8:12] == b"AVI "
    assert body["cost"] == "0.050000"
    [record] = _records(user)
    assert (record.status, record.cost) == ("success", Decimal("0.050000"))
    assert _requests_today(user) == 1
    # a duplicate delivery of an old poll does nothing
    assert job_video_poll_task(job_id, 1) == "skipped"
    assert len([e for e in ai_demo.state.log if e["path"] == "/v1/video/status"]) == 4


def test_a_failed_video_is_not_charged(auth_client, user, scheduled_polls):
    _plan(user)
    job_id = _create(auth_client, "video", "A lake [[fault:video_failed]]")
    job_run_task(job_id)
    assert job_video_poll_task(job_id, 0) == "failed"
    body = _job(auth_client, job_id)
    assert body["error"]["code"] == "video_failed"
    assert [r.status for r in _records(user)] == ["error"]
    assert _requests_today(user) == 0


def test_a_video_past_its_deadline_fails_with_video_timeout(
    auth_client, user, scheduled_polls
):
    _plan(user)
    job_id = _create(auth_client, "video", "A lake [[polls:99]]")
    job_run_task(job_id)
    ContentJob.objects.filter(pk=job_id).update(
        deadline_at=timezone.now() - timedelta(seconds=1)
    )
    assert job_video_poll_task(job_id, 0) == "failed"
    assert _job(auth_client, job_id)["error"]["code"] == "video_timeout"
    assert _requests_today(user) == 0


# --- cancel, delete, ownership


def test_a_canceled_queued_job_never_runs(auth_client, user, ai_demo):
    job_id = _create(auth_client, "email", "Hello")
    response = auth_client.post(f"/api/ai/jobs/{job_id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert job_run_task(job_id) == "canceled"
    assert ai_demo.chat_calls() == []
    assert _records(user) == []
    again = auth_client.post(f"/api/ai/jobs/{job_id}/cancel")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "job_not_cancelable"


def test_canceling_a_video_mid_poll_settles_nothing_charged(
    auth_client, user, ai_demo, scheduled_polls
):
    _plan(user)
    job_id = _create(auth_client, "video", "A lake [[polls:5]]")
    job_run_task(job_id)
    assert _requests_today(user) == 1  # held while the video renders
    assert auth_client.post(f"/api/ai/jobs/{job_id}/cancel").status_code == 200
    assert job_video_poll_task(job_id, 0) == "skipped"
    assert _requests_today(user) == 0
    assert [r.status for r in _records(user)] == ["error"]
    assert _job(auth_client, job_id)["status"] == "canceled"


def test_another_users_job_is_404_everywhere(auth_client, other_user, api_client):
    job_id = _create(auth_client, "email", "Hello")
    other = api_client
    other.force_authenticate(other_user)
    assert other.get(f"/api/ai/jobs/{job_id}").status_code == 404
    assert other.post(f"/api/ai/jobs/{job_id}/cancel").status_code == 404
    assert other.delete(f"/api/ai/jobs/{job_id}").status_code == 404
    assert other.get("/api/ai/jobs").json()["count"] == 0
    assert ContentJob.objects.filter(pk=job_id, status="queued").exists()


def test_delete_removes_the_job_and_its_files(
    auth_client, user, django_capture_on_commit_callbacks
):
    from django.core.files.storage import default_storage

    _plan(user)
    job_id = _create(auth_client, "image", "A fox")
    job_run_task(job_id)
    name = ContentAsset.objects.get(job_id=job_id).file.name
    assert default_storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        assert auth_client.delete(f"/api/ai/jobs/{job_id}").status_code == 204
    assert not ContentJob.objects.filter(pk=job_id).exists()
    assert not default_storage.exists(name)
    assert auth_client.get(f"/api/ai/jobs/{job_id}").status_code == 404


def test_jobs_are_listed_filtered_searched_and_paginated(
    auth_client, user, django_assert_max_num_queries
):
    _plan(user)
    ids = [
        _create(auth_client, "email", "Spring sale"),
        _create(auth_client, "blog_post", "Autumn menu"),
        _create(auth_client, "image", "Spring flowers"),
    ]
    job_run_task(ids[2])
    with django_assert_max_num_queries(8):
        page = auth_client.get("/api/ai/jobs?page_size=2").json()
    assert page["count"] == 3
    assert [j["id"] for j in page["results"]] == [ids[2], ids[1]]
    assert page["results"][0]["assets"][0]["url"].startswith("/api/ai/assets/")
    only_email = auth_client.get("/api/ai/jobs?type=email").json()
    assert [j["id"] for j in only_email["results"]] == [ids[0]]
    spring = auth_client.get("/api/ai/jobs?search=spring").json()
    assert {j["id"] for j in spring["results"]} == {ids[0], ids[2]}
    done = auth_client.get("/api/ai/jobs?status=succeeded").json()
    assert [j["id"] for j in done["results"]] == [ids[2]]
    bad = auth_client.get("/api/ai/jobs?status=sleeping")
    assert bad.status_code == 400


# --- the stale-job sweeper


def test_the_sweeper_requeues_a_job_whose_worker_died_and_fails_it_past_the_limit(
    auth_client, user, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.STUDIO_JOB_MAX_ATTEMPTS = 2
    queued = []
    monkeypatch.setattr(job_run_task, "apply_async", lambda **kw: queued.append(kw))
    job_id = _create(auth_client, "email", "Hello")
    past = timezone.now() - timedelta(seconds=5)
    fresh = _create(auth_client, "email", "Still working")
    ContentJob.objects.filter(pk=job_id).update(
        status="running", attempts=1, lease_until=past
    )
    ContentJob.objects.filter(pk=fresh).update(
        status="running", attempts=1, lease_until=timezone.now() + timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_sweep_task() == {"requeued": 1, "failed": 0}
    assert [q["args"] for q in queued] == [[job_id]]
    assert ContentJob.objects.get(pk=job_id).status == "queued"
    assert ContentJob.objects.get(pk=fresh).status == "running"
    # the re-queued run dies again: past the attempt limit it fails
    ContentJob.objects.filter(pk=job_id).update(
        status="running", attempts=2, lease_until=past
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_sweep_task() == {"requeued": 0, "failed": 1}
    body = _job(auth_client, job_id)
    assert body["status"] == "failed"
    assert body["error"]["code"] == "job_stalled"
    assert Notification.objects.filter(user=user, data__job_id=job_id).exists()


def test_a_redelivered_task_skips_a_job_another_worker_holds(auth_client, ai_demo):
    job_id = _create(auth_client, "email", "Hello")
    ContentJob.objects.filter(pk=job_id).update(
        status="running", attempts=1, lease_until=timezone.now() + timedelta(minutes=5)
    )
    assert job_run_task(job_id) == "running"
    assert ai_demo.chat_calls() == []


def test_the_message_whose_worker_died_re_claims_its_job_at_once(auth_client, ai_demo):
    # A SIGKILLed run leaves the job running under its message, lease still held;
    # the broker delivers that same message again (late ack never sent).
    job_id = _create(auth_client, "email", "Hello")
    ContentJob.objects.filter(pk=job_id).update(
        status="running",
        attempts=1,
        claimed_by="msg-dead",
        lease_until=timezone.now() + timedelta(minutes=5),
    )
    assert job_run_task.apply(args=[job_id], task_id="msg-other").get() == "running"
    assert ai_demo.chat_calls() == []  # another message still keeps off
    assert job_run_task.apply(args=[job_id], task_id="msg-dead").get() == "succeeded"
    assert ContentJob.objects.get(pk=job_id).attempts == 2


def test_a_job_whose_lease_ran_out_is_run_again_by_a_redelivered_task(auth_client):
    job_id = _create(auth_client, "email", "Hello")
    ContentJob.objects.filter(pk=job_id).update(
        status="running", attempts=1, lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert job_run_task(job_id) == "succeeded"
    assert ContentJob.objects.get(pk=job_id).attempts == 2


def test_staff_see_jobs_and_their_files_in_the_admin(auth_client, user):
    from django.test import Client

    from accounts.tests.factories import UserFactory

    staff_user = UserFactory(is_staff=True, is_superuser=True)
    _plan(user)
    job_id = _create(auth_client, "image", "A fox")
    job_run_task(job_id)
    admin = Client()
    admin.force_login(staff_user)
    listing = admin.get("/admin/ai/contentjob/?status=succeeded")
    assert listing.status_code == 200
    assert f"/admin/ai/contentjob/{job_id}/change/".encode() in listing.content
    page = admin.get(f"/admin/ai/contentjob/{job_id}/change/")
    assert page.status_code == 200
    assert b"image-0" in page.content  # the stored file, listed inline
    assert admin.get("/admin/ai/contentjob/add/").status_code == 403


def test_usage_analytics_show_jobs_by_type_and_model(auth_client, user):
    _plan(user)
    job_run_task(_create(auth_client, "image", "A fox", count=2))
    job_run_task(_create(auth_client, "email", "Hello"))
    _records(user)  # drained into the daily rollups
    by_type = auth_client.get("/api/ai/usage?group_by=endpoint").json()
    groups = {g["key"]: g for g in by_type["results"]}
    assert groups["studio.image"]["requests"] == 1
    assert groups["studio.image"]["cost"] == "0.020000"
    assert groups["studio.email"]["total_tokens"] > 0
    by_model = auth_client.get("/api/ai/usage?group_by=model").json()
    keys = {g["key"] for g in by_model["results"]}
    assert {"flowmatik-demo-image", "flowmatik-demo"} <= keys


def test_a_provider_down_through_every_retry_fails_with_its_own_code(
    auth_client, user, settings, monkeypatch
):
    settings.STUDIO_TASK_MAX_RETRIES = 3
    settings.STUDIO_JOB_MAX_ATTEMPTS = 4
    monkeypatch.setattr(job_run_task, "apply_async", lambda **kw: None)
    job_id = _create(auth_client, "email", "Hello [[fault:503]]")
    outcomes = [job_run_task(job_id) for _ in range(4)]
    assert outcomes == ["queued", "queued", "queued", "failed"]
    body = _job(auth_client, job_id)
    assert body["error"]["code"] == "provider_error"  # not job_stalled
    assert _requests_today(user) == 0


def test_with_s3_storage_a_signed_link_redirects_to_a_presigned_one(
    auth_client, user, api_client, settings
):
    from ai.models import ContentAsset

    job_id = _create(auth_client, "email", "Hello")
    asset = ContentAsset.objects.create(
        job_id=job_id,
        user=user,
        kind="image",
        file=f"studio/{user.pk}/{job_id}/image-0.png",
        content_type="image/png",
        size_bytes=10,
        sha256="0" * 64,
    )
    settings.AWS_STORAGE_BUCKET_NAME = "fmk-assets"
    settings.AWS_S3_ENDPOINT_URL = "http://127.0.0.1:9000"
    settings.AWS_S3_REGION_NAME = "us-east-1"
    settings.AWS_ACCESS_KEY_ID = "test-access"
    settings.AWS_SECRET_ACCESS_KEY = "test-secret"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage"},
    }
    from ai import asset_links

    link = asset_links.asset_link_build(asset_id=asset.pk, user_id=user.pk)
    response = api_client.get(link.download_url)
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("http://127.0.0.1:9000/fmk-assets/studio/")
    assert "X-Amz-Signature=" in location
    assert f"X-Amz-Expires={settings.STUDIO_ASSET_URL_SECONDS}" in location
    assert "response-content-disposition=attachment" in location
    assert api_client.get(link.url.split("?")[0]).status_code == 404
