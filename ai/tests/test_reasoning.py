"""The ReasoningEngine: plan → draft (per section) → critique → revise, each step a
metered call of the chat engine, on chat and on content jobs, gated per plan."""

import asyncio
import json
import re
import time
import uuid

import httpx
import pytest

from accounts.tests.factories import UserFactory
from ai.models import Conversation
from billing.tests.factories import subscription_row
from flowmatik.testing.auth import jwt_for
from usage.models import UsageRecord
from usage.services import usage_events_drain

pytestmark = pytest.mark.usefixtures("catalogue_tx")


def _user(plan: str):
    user = UserFactory()
    if plan != "free":
        subscription_row(user=user, plan=plan)
    return user


def _calls(demo_server, token: str) -> list[dict]:
    """The demo model's chat calls made for this test's message (`token` in it):
    the demo server lives for the session, and an earlier test's work may still
    be calling it."""
    return [c for c in demo_server.chat_calls() if token in json.dumps(c["body"])]


def _token() -> str:
    return f"tok{uuid.uuid4().hex[:10]}"


def _post(live_asgi, user, path: str, body: dict) -> httpx.Response:
    return httpx.post(
        f"{live_asgi}{path}",
        json=body,
        headers={"Authorization": f"Bearer {jwt_for(user)}"},
        timeout=30,
    )


def test_chat_with_reasoning_meters_every_step_and_stores_one_turn(live_asgi):
    user = _user("pro")
    response = _post(
        live_asgi,
        user,
        "/api/ai/chat",
        {"message": "Plan a tea tasting", "reasoning": {"depth": 2}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    steps = body["reasoning_steps"]
    kinds = [step["step"] for step in steps]
    drafts = kinds.count("draft")
    assert kinds == ["plan", *["draft"] * drafts, "critique", "revise", "critique"]
    assert drafts >= 2  # the outline's sections, drafted one by one
    assert [step["section"] for step in steps if step["step"] == "draft"] == list(
        range(1, drafts + 1)
    )
    assert [step["index"] for step in steps] == list(range(1, len(steps) + 1))
    assert all(step["prompt_tokens"] > 0 for step in steps)
    assert body["reply"]

    usage_events_drain()
    records = UsageRecord.objects.filter(user=user)
    assert records.filter(endpoint="chat.reasoning").count() == len(steps)
    assert records.filter(endpoint="chat").count() == 1
    conversation = Conversation.objects.get(pk=body["conversation_id"])
    assert conversation.message_count == 2


def test_streamed_chat_with_reasoning_sends_a_step_event_per_step(live_asgi):
    user = _user("starter")
    with httpx.stream(
        "POST",
        f"{live_asgi}/api/ai/chat",
        json={"message": "Name a tea", "stream": True, "reasoning": {"depth": 1}},
        headers={"Authorization": f"Bearer {jwt_for(user)}"},
        timeout=30,
    ) as response:
        assert response.status_code == 200
        names = [
            line[7:] for line in response.iter_lines() if line.startswith("event: ")
        ]
    assert names[0] == "start"
    steps = [n for n in names if n == "reasoning_step"]
    assert len(steps) >= 3  # plan, draft(s), critique
    assert names.index("delta") > max(
        i for i, n in enumerate(names) if n == "reasoning_step"
    )
    assert names[-1] == "done"


@pytest.mark.parametrize(("plan", "depth"), [("free", 1), ("starter", 2), ("pro", 3)])
def test_a_depth_above_the_plans_maximum_is_403(live_asgi, plan, depth):
    user = _user(plan)
    response = _post(
        live_asgi,
        user,
        "/api/ai/chat",
        {"message": "hi", "reasoning": {"depth": depth}},
    )
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "plan_feature_required"
    assert error["details"]["depth"] == depth
    usage_events_drain()
    assert not UsageRecord.objects.filter(user=user).exists()


def test_a_depth_outside_one_to_three_is_400(live_asgi):
    user = _user("business")
    response = _post(
        live_asgi, user, "/api/ai/chat", {"message": "hi", "reasoning": {"depth": 4}}
    )
    assert response.status_code == 400
    assert "reasoning" in json.dumps(response.json()["error"]["details"])


def test_a_step_refused_by_the_quota_stops_the_run_and_charges_the_steps_that_ran(
    live_asgi,
):
    from usage.services import quota_override_set

    user = _user("pro")
    quota_override_set(user_id=user.pk, requests_per_day=2, reason="test")
    response = _post(
        live_asgi,
        user,
        "/api/ai/chat",
        {"message": "Plan a tea tasting", "reasoning": {"depth": 1}},
    )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "quota_exceeded"
    usage_events_drain()
    records = UsageRecord.objects.filter(user=user, status="success")
    assert records.count() == 2
    assert not Conversation.objects.filter(user=user).exists()


# --- content jobs -------------------------------------------------------------------


def _job(live_asgi, user, body: dict) -> dict:
    from ai.models import ContentJob
    from flowmatik.testing.servers import wait_for

    response = _post(live_asgi, user, "/api/ai/generate-content", body)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert wait_for(
        lambda: (
            ContentJob.objects.get(pk=job_id).status
            in ("succeeded", "failed", "canceled")
        ),
        timeout=30,
    )
    return httpx.get(
        f"{live_asgi}/api/ai/jobs/{job_id}",
        headers={"Authorization": f"Bearer {jwt_for(user)}"},
        timeout=10,
    ).json()


def test_a_reasoned_job_stores_every_step_and_charges_each(live_asgi, eager_celery):
    user = _user("pro")
    job = _job(
        live_asgi,
        user,
        {"type": "blog_post", "prompt": "Cold brew at home", "reasoning": {"depth": 2}},
    )
    assert job["status"] == "succeeded", job["error"]
    assert job["reasoning_depth"] == 2
    steps = job["result"]["reasoning"]["steps"]
    kinds = [step["step"] for step in steps]
    drafts = kinds.count("draft")
    assert kinds == ["plan", *["draft"] * drafts, *["critique", "revise"] * 2]
    assert job["result"]["title"].startswith("Cold brew at home")  # revision, parsed
    total = sum(s["prompt_tokens"] + s["completion_tokens"] for s in steps)
    assert job["usage"]["total_tokens"] == total

    usage_events_drain()
    records = UsageRecord.objects.filter(user=user)
    assert records.filter(endpoint="studio.blog_post.reasoning").count() == len(steps)
    assert not records.filter(endpoint="studio.blog_post").exists()


def test_a_step_refused_fails_the_job_keeping_the_steps_that_ran(
    live_asgi, eager_celery
):
    from usage.services import quota_override_set

    user = _user("pro")
    quota_override_set(user_id=user.pk, requests_per_day=3, reason="test")
    job = _job(
        live_asgi,
        user,
        {"type": "email", "prompt": "Launch news", "reasoning": {"depth": 1}},
    )
    assert job["status"] == "failed"
    assert job["error"]["code"] == "quota_exceeded"
    assert [s["step"] for s in job["result"]["reasoning"]["steps"]][:1] == ["plan"]
    assert len(job["result"]["reasoning"]["steps"]) == 3
    usage_events_drain()
    assert UsageRecord.objects.filter(user=user, status="success").count() == 3


def test_reasoning_on_a_media_job_or_above_the_plan_is_refused(live_asgi):
    pro, starter = _user("pro"), _user("starter")
    media = _post(
        live_asgi,
        pro,
        "/api/ai/generate-content",
        {"type": "image", "prompt": "a cat", "reasoning": {"depth": 1}},
    )
    too_deep = _post(
        live_asgi,
        starter,
        "/api/ai/generate-content",
        {"type": "email", "prompt": "hi", "reasoning": {"depth": 2}},
    )
    assert media.status_code == 400
    assert "reasoning" in media.json()["error"]["details"]["fields"]
    assert too_deep.status_code == 403
    assert too_deep.json()["error"]["code"] == "plan_feature_required"


# --- agents that declare reasoning ----------------------------------------------------


def test_an_agent_declaring_reasoning_answers_with_it_capped_by_the_plan(
    live_asgi, eager_celery
):
    from ai.models import Agent

    Agent.objects.create(
        slug="deep-thinker",
        name="Deep thinker",
        system_prompt="You think twice.",
        reasoning_depth=2,
    )
    starter, free = _user("starter"), _user("free")
    reasoned = _post(
        live_asgi, starter, "/api/ai/chat", {"message": "Tea?", "agent": "deep-thinker"}
    )
    plain = _post(
        live_asgi, free, "/api/ai/chat", {"message": "Tea?", "agent": "deep-thinker"}
    )
    assert reasoned.status_code == 200, reasoned.text
    kinds = [s["step"] for s in reasoned.json()["reasoning_steps"]]
    assert kinds.count("critique") == 1  # starter's maximum is 1, not the agent's 2
    assert plain.status_code == 200
    assert "reasoning_steps" not in plain.json()

    job = _job(
        live_asgi,
        starter,
        {"type": "email", "prompt": "Launch news", "agent": "deep-thinker"},
    )
    assert job["reasoning_depth"] == 1
    assert job["result"]["reasoning"]["steps"][0]["step"] == "plan"


def test_an_own_agent_may_declare_only_a_depth_the_plan_reaches(live_asgi):
    user = _user("pro")
    body = {"slug": "mine", "name": "Mine", "system_prompt": "Hi", "reasoning_depth": 3}
    refused = _post(live_asgi, user, "/api/ai/agents", body)
    accepted = _post(live_asgi, user, "/api/ai/agents", {**body, "reasoning_depth": 2})
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["max_depth"] == 2
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["reasoning_depth"] == 2


# --- steps streamed live; a cancel between steps; a retried job -----------------------


def _step_of(call: dict) -> str:
    """The ReasoningEngine step a demo-model call was (from its system prompt)."""
    system = " ".join(
        m["content"] for m in call["body"]["messages"] if m["role"] == "system"
    )
    found = re.search(r"Reasoning step: (\w+)", system)
    return found.group(1) if found else "final"


def test_streamed_reasoning_sends_each_step_as_it_finishes(live_asgi):
    user = _user("starter")
    arrivals = []
    with httpx.stream(
        "POST",
        f"{live_asgi}/api/ai/chat",
        json={
            "message": "[[delay:0.4]] [[words:4]] Name a tea",
            "stream": True,
            "reasoning": {"depth": 1},
        },
        headers={"Authorization": f"Bearer {jwt_for(user)}"},
        timeout=30,
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("event: "):
                arrivals.append((line[7:], time.monotonic()))
    names = [name for name, _ in arrivals]
    steps = [at for name, at in arrivals if name == "reasoning_step"]
    assert names[0] == "start"
    assert names[-1] == "done"
    assert len(steps) >= 3  # plan, draft(s), critique
    # every step is a call of at least 0.4 s: the first step's event reached the
    # client while the later steps were still being called, one by one
    assert steps[-1] - steps[0] >= 0.4 * (len(steps) - 1) * 0.9
    assert arrivals[0][1] < steps[0] - 0.3  # `start` did not wait for the plan step
    assert names.index("delta") > names.index("reasoning_step")


def test_an_sse_client_leaving_between_steps_stops_them_and_is_charged_for_those_run(
    live_asgi, demo_server
):
    user = _user("pro")
    token = _token()
    ran = 0
    with httpx.stream(
        "POST",
        f"{live_asgi}/api/ai/chat",
        json={
            "message": f"[[delay:0.6]] Plan a tea tasting {token}",
            "stream": True,
            "reasoning": {"depth": 1},
        },
        headers={"Authorization": f"Bearer {jwt_for(user)}"},
        timeout=30,
    ) as response:
        for line in response.iter_lines():
            if line == "event: reasoning_step":
                ran += 1
                break  # the client goes away after the plan step
    time.sleep(1.0)  # the disconnect reaches the server; a step lasts 0.6 s
    called = len(_calls(demo_server, token))
    time.sleep(1.5)  # more than two steps: none starts any more
    assert len(_calls(demo_server, token)) == called

    usage_events_drain()
    statuses = list(
        UsageRecord.objects.filter(user=user)
        .order_by("id")
        .values_list("endpoint", "status")
    )
    assert ("chat.stream", "success") not in statuses  # no final turn
    steps = [status for endpoint, status in statuses if endpoint.endswith(".reasoning")]
    # the plan step, at most the one in flight when the client left — cut
    # (partial), finished and charged (success: the stop reached it after the
    # provider answered), or admitted and never called (error, not charged) — and
    # nothing after
    assert steps[:ran] == ["success"] * ran
    assert len(steps) - ran <= 1


async def test_cancel_between_reasoning_steps_on_the_socket_runs_and_charges_no_more(
    demo_server,
):
    from asgiref.sync import sync_to_async

    from flowmatik.testing.websockets import communicator

    user = await sync_to_async(_user)("pro")
    token = _token()
    comm = communicator("/ws/chat/", token=jwt_for(user))
    assert (await comm.connect())[0] is True
    await comm.send_json_to(
        {
            "type": "chat",
            "message": f"[[delay:0.6]] Plan a tea tasting {token}",
            "reasoning": {"depth": 1},
            "request_id": "r-steps",
        }
    )
    assert (await comm.receive_json_from(timeout=10))["type"] == "start"
    first = await comm.receive_json_from(timeout=10)
    assert (first["type"], first["step"]) == ("reasoning_step", "plan")

    await comm.send_json_to({"type": "cancel"})
    frames = [first]
    while frames[-1]["type"] != "cancelled":
        frames.append(await comm.receive_json_from(timeout=5))
    ran = [f for f in frames if f["type"] == "reasoning_step"]
    called = len(_calls(demo_server, token))
    await asyncio.sleep(1.5)  # longer than two steps: none starts after the cancel
    assert len(_calls(demo_server, token)) == called
    assert not [f for f in frames if f["type"] in ("delta", "done")]
    await comm.disconnect()

    def records() -> dict[str, list[str]]:
        usage_events_drain()
        found: dict[str, list[str]] = {}
        for record in UsageRecord.objects.filter(user=user).order_by("id"):
            found.setdefault(record.endpoint, []).append(record.status)
        return found

    found = await sync_to_async(records)()
    assert "ws.chat" not in found  # the final turn never ran
    statuses = found["ws.chat.reasoning"]
    # Every step the provider was called for is settled once: a step that finished
    # while the cancel was in transit (a loaded machine) is charged though its
    # frame is dropped; the one in flight is cut (partial) or finished (success);
    # one admitted when the cancel came is settled uncharged (error) without a
    # provider call; none starts after the cancel (checked above).
    charged = [status for status in statuses if status != "error"]
    assert len(charged) <= called
    assert len(statuses) <= called + 1
    assert statuses.count("success") >= len(ran)


def test_a_reasoned_job_retried_after_a_step_fault_keeps_the_steps_it_ran(
    live_asgi, demo_server, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from ai.models import ContentJob
    from ai.tasks import job_run_task

    settings.STUDIO_TASK_MAX_RETRIES = 2
    scheduled = []
    monkeypatch.setattr(job_run_task, "apply_async", lambda **kw: scheduled.append(kw))
    user = _user("pro")
    token = _token()
    response = _post(
        live_asgi,
        user,
        "/api/ai/generate-content",
        {
            "type": "email",
            "prompt": f"Launch news [[fault:503x3]] [[fault_on:critique]] {token}",
            "reasoning": {"depth": 1},
        },
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]

    with django_capture_on_commit_callbacks(execute=True):
        assert job_run_task(job_id) == "queued"  # the critique step failed: retry
    assert scheduled[-1]["args"] == [job_id]
    first_run = [_step_of(c) for c in _calls(demo_server, token)]
    assert first_run[0] == "plan"
    assert first_run[-3:] == ["critique"] * 3  # one call and AI_MAX_RETRIES
    middle = len(_calls(demo_server, token))

    assert job_run_task(job_id) == "succeeded"
    second_run = [_step_of(c) for c in _calls(demo_server, token)[middle:]]
    assert second_run == ["critique", "revise"]  # plan and drafts not called again

    job = ContentJob.objects.get(pk=job_id)
    steps = job.result["reasoning"]["steps"]
    kinds = [step["step"] for step in steps]
    assert kinds == ["plan", *["draft"] * kinds.count("draft"), "critique", "revise"]
    assert job.attempts == 2
    total = sum(s["prompt_tokens"] + s["completion_tokens"] for s in steps)
    assert job.prompt_tokens + job.completion_tokens == total

    usage_events_drain()
    records = UsageRecord.objects.filter(
        user=user, endpoint="studio.email.reasoning"
    ).order_by("id")
    statuses = [r.status for r in records]
    assert statuses.count("success") == len(steps)  # each step charged once
    assert statuses.count("error") == 1  # the failed critique, not charged
