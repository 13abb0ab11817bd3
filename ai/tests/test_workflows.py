"""Workflows: CRUD over HTTP, safe templates, the plan gate, seeded templates, and
runs end to end through a real Celery worker (outputs feed later steps; a failed
step; cancel)."""

import time
import uuid

import httpx
import pytest
from celery.contrib.testing.worker import start_worker

from accounts.tests.factories import UserFactory
from ai.models import ContentJob, Workflow
from billing.tests.factories import subscription_row
from flowmatik.celery import app as celery_app
from flowmatik.testing.auth import jwt_for
from flowmatik.testing.servers import wait_for
from usage.models import UsageRecord
from usage.services import usage_events_drain

pytestmark = pytest.mark.usefixtures("catalogue_tx")

PIPELINE = {
    "name": "Research to post",
    "inputs": ["topic"],
    "steps": [
        {"name": "research", "prompt": "Key facts about {{ inputs.topic }}"},
        {
            "name": "post",
            "type": "blog_post",
            "prompt": "{{ inputs.topic|upper }}\n\nNotes: {{ steps.research }}",
        },
        {"name": "seo", "type": "seo_meta", "prompt": "{{ steps.post }}"},
    ],
}


def _client(live_asgi, plan: str = "pro"):
    user = UserFactory()
    if plan != "free":
        subscription_row(user=user, plan=plan)
    client = httpx.Client(
        base_url=live_asgi.http_url,
        headers={"Authorization": f"Bearer {jwt_for(user)}"},
        timeout=30,
    )
    return user, client


@pytest.fixture
def worker(settings):
    queue = f"test-{uuid.uuid4().hex[:12]}"
    settings.STUDIO_TASK_QUEUE = queue
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=[queue]
    ):
        yield


def _finished(job_id: int) -> ContentJob:
    assert wait_for(
        lambda: (
            ContentJob.objects.get(pk=job_id).status
            in ("succeeded", "failed", "canceled")
        ),
        timeout=40,
    )
    return ContentJob.objects.get(pk=job_id)


def test_crud_copy_and_the_owner_only_rules(live_asgi):
    user, client = _client(live_asgi)
    _, stranger = _client(live_asgi)
    created = client.post("/api/ai/workflows", json=PIPELINE)
    assert created.status_code == 201, created.text
    workflow = created.json()
    assert workflow["template"] is False
    assert [s["name"] for s in workflow["steps"]] == ["research", "post", "seo"]

    listed = client.get("/api/ai/workflows").json()
    names = [row["name"] for row in listed["results"]]
    assert names[0] == "Research to post"  # own first, then the templates
    assert {"Blog launch kit", "Newsletter from notes", "Product launch"} <= set(names)

    url = f"/api/ai/workflows/{workflow['id']}"
    patched = client.patch(url, json={"name": "Renamed"})
    assert patched.status_code == 200
    assert patched.json()["name"] == "Renamed"
    assert patched.json()["steps"] == workflow["steps"]

    assert stranger.get(url).status_code == 404
    assert stranger.patch(url, json={"name": "x"}).status_code == 404
    assert stranger.delete(url).status_code == 404
    assert stranger.post(f"{url}/run", json={"inputs": {"topic": "x"}}).status_code == (
        404
    )

    template = Workflow.objects.get(slug="blog-launch-kit", owner__isnull=True)
    assert (
        client.patch(
            f"/api/ai/workflows/{template.pk}", json={"name": "mine"}
        ).status_code
        == 404
    )
    copy = client.post(f"/api/ai/workflows/{template.pk}/copy")
    assert copy.status_code == 201
    assert copy.json()["template"] is False
    assert (
        copy.json()["steps"]
        == client.get(f"/api/ai/workflows/{template.pk}").json()["steps"]
    )
    assert Workflow.objects.filter(owner=user).count() == 2

    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("{% load static %}{{ inputs.topic }}", "Tags not allowed: load"),
        ('{% include "x.html" %}', "Tags not allowed: include"),
        ("{% debug %}", "Tags not allowed: debug"),
        ("{{ steps.later }}", "not an earlier step"),
        ("{{ inputs.missing }}", "Unknown input"),
        ("{% if inputs.topic %}open", "Template error"),
    ],
)
def test_unsafe_or_broken_templates_are_400_naming_the_step(live_asgi, prompt, message):
    _, client = _client(live_asgi)
    body = {
        "name": "bad",
        "inputs": ["topic"],
        "steps": [{"name": "one", "prompt": "ok"}, {"name": "two", "prompt": prompt}],
    }
    response = client.post("/api/ai/workflows", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert message in error["details"]["fields"]["steps"]["1"]["prompt"][0]


def test_templates_cannot_reach_methods_that_change_state():
    from ai.services.workflows import template_render

    inputs = {"topic": "tea"}
    text = template_render(
        "{{ inputs.clear }}{{ inputs.topic.upper }}{{ steps.pop }}",
        inputs=inputs,
        outputs={},
    )
    assert text == "TEA"
    assert inputs == {"topic": "tea"}


def test_the_plan_gate_refuses_starter_users(live_asgi):
    _, client = _client(live_asgi, plan="starter")
    template = Workflow.objects.get(slug="newsletter-from-notes", owner__isnull=True)
    assert client.get("/api/ai/workflows").status_code == 200  # templates visible
    for response in (
        client.post("/api/ai/workflows", json=PIPELINE),
        client.post(f"/api/ai/workflows/{template.pk}/copy"),
        client.post(
            f"/api/ai/workflows/{template.pk}/run", json={"inputs": {"notes": "x"}}
        ),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "plan_feature_required"
        assert response.json()["error"]["details"]["feature"] == "workflows"


def test_run_inputs_are_checked(live_asgi):
    _, client = _client(live_asgi)
    workflow = client.post("/api/ai/workflows", json=PIPELINE).json()
    response = client.post(
        f"/api/ai/workflows/{workflow['id']}/run", json={"inputs": {"other": "x"}}
    )
    assert response.status_code == 400
    fields = response.json()["error"]["details"]["fields"]["inputs"]
    assert set(fields) == {"other", "topic"}


def test_a_run_feeds_each_output_to_the_next_step_in_a_real_worker(
    live_asgi, worker, ai_demo
):
    user, client = _client(live_asgi)
    workflow = client.post("/api/ai/workflows", json=PIPELINE).json()
    started = client.post(
        f"/api/ai/workflows/{workflow['id']}/run",
        json={"inputs": {"topic": "cold brew"}},
    )
    assert started.status_code == 202, started.text
    assert started.json()["type"] == "workflow"
    job = _finished(started.json()["id"])
    assert job.status == "succeeded", job.error_message
    body = client.get(f"/api/ai/jobs/{job.pk}").json()
    steps = body["result"]["steps"]
    assert [s["name"] for s in steps] == ["research", "post", "seo"]
    assert body["progress"] == 100
    assert body["result_text"] == steps[-1]["output"]
    assert body["result"]["outputs"]["post"] == steps[1]["output"]
    assert body["usage"]["total_tokens"] == sum(
        s["prompt_tokens"] + s["completion_tokens"] for s in steps
    )

    # what the model was sent: each step's prompt carries the earlier outputs
    sent = [str(call["body"]["messages"]) for call in ai_demo.chat_calls()]
    assert any("COLD BREW" in s and steps[0]["output"][:40] in s for s in sent)
    assert any(steps[1]["output"][:40] in s for s in sent[-1:])

    usage_events_drain()
    records = UsageRecord.objects.filter(user=user, endpoint="workflow.step")
    assert records.filter(status="success").count() == 3


def test_a_failed_step_fails_the_run_and_charges_only_the_steps_that_ran(
    live_asgi, worker
):
    user, client = _client(live_asgi)
    body = {
        "name": "Breaks",
        "inputs": ["topic"],
        "steps": [
            {"name": "one", "prompt": "About {{ inputs.topic }}"},
            {"name": "two", "prompt": "[[fault:500]] {{ steps.one }}"},
            {"name": "three", "prompt": "Never {{ steps.two }}"},
        ],
    }
    workflow = client.post("/api/ai/workflows", json=body).json()
    started = client.post(
        f"/api/ai/workflows/{workflow['id']}/run", json={"inputs": {"topic": "tea"}}
    ).json()
    job = _finished(started["id"])
    assert job.status == "failed"
    assert job.error_message.startswith("Step 'two':")
    assert job.result["failed_step"] == "two"
    assert [s["name"] for s in job.result["steps"]] == ["one"]
    assert job.prompt_tokens == job.result["steps"][0]["prompt_tokens"]

    usage_events_drain()
    records = UsageRecord.objects.filter(user=user, endpoint="workflow.step")
    assert records.filter(status="success").count() == 1
    assert not records.exclude(status="success").filter(total_tokens__gt=0).exists()


def test_a_canceled_run_stops_before_its_next_step(live_asgi, worker, ai_demo):
    user, client = _client(live_asgi)
    body = {
        "name": "Slow",
        "inputs": [],
        "steps": [
            {"name": "slow", "prompt": "[[delay:0.1]] [[words:20]] first"},
            {"name": "after", "prompt": "second {{ steps.slow }}"},
        ],
    }
    workflow = client.post("/api/ai/workflows", json=body).json()
    started = client.post(f"/api/ai/workflows/{workflow['id']}/run", json={}).json()
    assert wait_for(
        lambda: ContentJob.objects.get(pk=started["id"]).status == "running",
        timeout=20,
    )
    canceled = client.post(f"/api/ai/jobs/{started['id']}/cancel")
    assert canceled.status_code == 200, canceled.text
    time.sleep(3)  # the first step's call finishes; the second must not start
    job = ContentJob.objects.get(pk=started["id"])
    assert job.status == "canceled"
    sent = [str(call["body"]["messages"]) for call in ai_demo.chat_calls()]
    assert not any("second" in s for s in sent)


def test_a_step_whose_run_was_canceled_mid_call_is_not_charged(
    live_asgi, worker, ai_demo
):
    user, client = _client(live_asgi)
    body = {
        "name": "Slow agent step",
        "inputs": [],
        "steps": [{"name": "slow", "prompt": "[[delay:1.5]] [[words:20]] first"}],
    }
    workflow = client.post("/api/ai/workflows", json=body).json()
    started = client.post(f"/api/ai/workflows/{workflow['id']}/run", json={}).json()
    assert wait_for(lambda: len(ai_demo.chat_calls()) == 1, timeout=20)
    canceled = client.post(f"/api/ai/jobs/{started['id']}/cancel")
    assert canceled.status_code == 200, canceled.text

    def records():
        usage_events_drain()
        return list(UsageRecord.objects.filter(user=user, endpoint="workflow.step"))

    assert wait_for(lambda: len(records()) == 1, timeout=20)
    [record] = records()
    assert (record.status, record.error_code) == ("error", "job_canceled")
    assert (record.total_tokens, record.cost) == (0, 0)
    job = ContentJob.objects.get(pk=started["id"])
    assert job.status == "canceled"
    assert job.prompt_tokens == job.completion_tokens == 0
