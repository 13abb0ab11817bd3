"""Conversations, models, status, schema, admin and the seeded catalogue."""

import pytest
from django.core.management import call_command

from accounts.tests.factories import UserFactory
from ai.models import AIModel, AIProvider, Conversation, Message
from ai.selectors import catalogue_get
from ai.services import model_seed_defaults
from billing.tests.factories import subscription_row

pytestmark = pytest.mark.usefixtures("catalogue")


def _conversation(user, title, messages=0):
    conversation = Conversation.objects.create(user=user, title=title)
    for i in range(messages):
        Message.objects.create(
            conversation=conversation,
            role="user" if i % 2 == 0 else "assistant",
            content=f"m{i}",
        )
    return conversation


def test_conversations_are_listed_newest_first_paginated_and_searchable(
    auth_client, user, django_assert_max_num_queries
):
    for i in range(3):
        _conversation(user, f"Launch plan {i}")
    _conversation(user, "Recipe ideas")
    _conversation(UserFactory(), "Launch plan of someone else")
    with django_assert_max_num_queries(4):
        response = auth_client.get("/api/ai/conversations?page_size=2")
    body = response.json()
    assert body["count"] == 4
    assert len(body["results"]) == 2
    assert body["next"]
    assert body["results"][0]["title"] == "Recipe ideas"
    found = auth_client.get("/api/ai/conversations?search=launch").json()
    assert [c["title"] for c in found["results"]] == [
        "Launch plan 2",
        "Launch plan 1",
        "Launch plan 0",
    ]


def test_conversation_detail_rename_and_delete(auth_client, user):
    conversation = _conversation(user, "Old", messages=2)
    detail = auth_client.get(f"/api/ai/conversations/{conversation.pk}").json()
    assert [m["content"] for m in detail["messages"]] == ["m0", "m1"]
    renamed = auth_client.patch(
        f"/api/ai/conversations/{conversation.pk}", {"title": "New"}, format="json"
    )
    assert renamed.json()["title"] == "New"
    assert (
        auth_client.delete(f"/api/ai/conversations/{conversation.pk}").status_code
        == 204
    )
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()


def test_another_users_conversation_cannot_be_read_renamed_or_deleted(auth_client):
    other = _conversation(UserFactory(), "Theirs", messages=1)
    url = f"/api/ai/conversations/{other.pk}"
    assert auth_client.get(url).status_code == 404
    assert auth_client.patch(url, {"title": "x"}, format="json").status_code == 404
    assert auth_client.delete(url).status_code == 404
    assert Conversation.objects.get(pk=other.pk).title == "Theirs"


def test_models_are_those_the_plan_allows_with_prices(auth_client, user):
    free = {m["id"]: m for m in auth_client.get("/api/ai/models").json()}
    assert set(free) == {"flowmatik-demo"}  # only the demo provider is configured
    assert free["flowmatik-demo"]["is_default"] is True
    assert free["flowmatik-demo"]["input_price"] == "0.500000"
    subscription_row(user=user, plan="pro")
    from billing.selectors import plan_cache_invalidate

    plan_cache_invalidate(user_id=user.pk)
    pro = {m["id"] for m in auth_client.get("/api/ai/models").json()}
    assert pro == {
        "flowmatik-demo",
        "flowmatik-demo-pro",
        "flowmatik-demo-image",
        "flowmatik-demo-tts",
        "flowmatik-demo-video",
    }


def test_models_follow_the_configured_providers(auth_client, settings):
    settings.SILICONFLOW_API_KEY = "sk-live-looking"
    ids = {m["id"] for m in auth_client.get("/api/ai/models").json()}
    assert ids == {"Qwen/Qwen3-8B", "Qwen/Qwen2.5-7B-Instruct"}  # Free plan models


def test_status_reports_each_provider_without_keys(auth_client, settings):
    settings.DOUBAO_API_KEY = "ark-secret-key"
    body = auth_client.get("/api/ai/status").json()
    rows = {row["provider"]: row for row in body["providers"]}
    assert rows["doubao"]["configured"] is True
    assert rows["siliconflow"]["configured"] is False
    assert rows["demo"]["configured"] is False  # a real provider is configured
    assert rows["doubao"]["circuit"] == "closed"
    assert "ark-secret-key" not in str(body)


def test_status_needs_authentication(api_client):
    assert api_client.get("/api/ai/status").status_code == 401


def test_seed_is_idempotent_and_has_the_real_models():
    assert model_seed_defaults() == 0
    ids = set(AIModel.objects.values_list("model_id", flat=True))
    assert {
        "deepseek-ai/DeepSeek-V3",
        "Qwen/Qwen3-8B",
        "Kwai-Kolors/Kolors",
        "FunAudioLLM/CosyVoice2-0.5B",
        "doubao-1-5-pro-32k",
        "flowmatik-demo",
    } <= ids
    AIModel.objects.filter(model_id="Qwen/Qwen3-8B").delete()
    assert model_seed_defaults() == 1
    demo = AIModel.objects.get(model_id="flowmatik-demo")
    assert demo.display_name == "Local demo model"


def test_admin_edits_reach_the_catalogue_at_once():
    assert "flowmatik-demo" in catalogue_get().models
    from ai.selectors import catalogue_invalidate

    AIModel.objects.filter(model_id="flowmatik-demo").update(enabled=False)
    catalogue_invalidate()
    assert "flowmatik-demo" not in catalogue_get().models


def test_admin_provider_list_never_shows_the_key(client):
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    AIProvider.objects.create(
        name="ollama", base_url="http://localhost:11434/v1", api_key="sk-hidden-999"
    )
    listing = client.get("/admin/ai/aiprovider/")
    assert listing.status_code == 200
    assert "sk-hidden-999" not in listing.content.decode()
    row = AIProvider.objects.get(name="ollama")
    change = client.get(f"/admin/ai/aiprovider/{row.pk}/change/")
    assert "sk-hidden-999" not in change.content.decode()


def test_admin_provider_rows_become_providers():
    AIProvider.objects.create(
        name="vllm", base_url="http://gpu:8000/v1", api_key="token"
    )
    from ai.selectors import catalogue_invalidate

    catalogue_invalidate()
    assert "vllm" in catalogue_get().providers


def test_schema_describes_the_async_ai_endpoints(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    chat = paths["/api/ai/chat"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"][
        "$ref"
    ].endswith("ChatInputRequest")
    assert "text/event-stream" in chat["responses"]["200"]["content"]
    assert "post" in paths["/v1/chat/completions"]
    assert "get" in paths["/v1/models"]
    assert {"/api/ai/conversations", "/api/ai/models", "/api/ai/status"} <= set(paths)


def test_demo_llm_command_serves_the_demo_app(monkeypatch, settings):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    settings.AI_DEMO_PORT = 8799
    call_command("demo_llm", port=8799)
    assert seen["port"] == 8799
    assert seen["host"] == settings.AI_DEMO_HOST
    routes = {route.path for route in seen["app"].routes}
    assert {"/v1/models", "/v1/chat/completions", "/v1/images/generations"} <= routes


def test_conversation_list_queries_do_not_grow_with_the_page(
    auth_client, user, django_assert_max_num_queries
):
    for i in range(25):
        _conversation(user, f"Topic {i}", messages=2)
    with django_assert_max_num_queries(3):
        response = auth_client.get("/api/ai/conversations?page_size=25")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 25


def test_schema_declares_the_error_responses_of_the_ai_endpoints(api_client):
    paths = api_client.get("/api/schema/?format=json").json()["paths"]
    expected = {
        ("/api/ai/conversations", "get"): {"200", "401"},
        ("/api/ai/conversations/{conversation_id}", "get"): {"200", "401", "404"},
        ("/api/ai/conversations/{conversation_id}", "patch"): {
            "200",
            "400",
            "401",
            "404",
        },
        ("/api/ai/conversations/{conversation_id}", "delete"): {"204", "401", "404"},
        ("/api/ai/models", "get"): {"200", "401"},
        ("/api/ai/status", "get"): {"200", "401"},
        ("/api/ai/chat", "post"): {"200", "400", "401", "413", "415"},
    }
    for (path, method), codes in expected.items():
        responses = paths[path][method]["responses"]
        assert codes <= set(responses), (path, method, set(responses))
        for code in codes - {"200", "204"}:
            schema = responses[code]["content"]["application/json"]["schema"]
            assert schema["$ref"].endswith("/Error"), (path, method, code)
    listed = paths["/api/ai/conversations"]["get"]["responses"]["200"]
    assert "Paginated" in listed["content"]["application/json"]["schema"]["$ref"]
    v1 = paths["/v1/chat/completions"]["post"]["responses"]
    assert {"413", "415"} <= set(v1)
