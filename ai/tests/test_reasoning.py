"""The ReasoningEngine: plan → draft (per section) → critique → revise, each step a
metered call of the chat engine, on chat and on content jobs, gated per plan."""

import json

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
