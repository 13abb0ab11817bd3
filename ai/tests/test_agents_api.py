"""Agents, tools and integrations over the API: plan gates, ownership, secrets."""

import pytest

from accounts.tests.factories import UserFactory
from ai.models import Agent, McpServer
from ai.secrets import secret_decrypt
from ai.seed_agents import AGENTS
from billing.selectors import plan_cache_invalidate
from billing.tests.factories import subscription_row
from flowmatik.testing.mcp_server import TOKEN

pytestmark = pytest.mark.usefixtures("catalogue")


def _on_plan(user, plan: str):
    subscription_row(user=user, plan=plan)
    plan_cache_invalidate(user_id=user.pk)
    return user


def _client_for(api_client, user):
    api_client.force_authenticate(user)
    return api_client


def _results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def _new_agent(**overrides) -> dict:
    return {
        "slug": "launch-helper",
        "name": "Launch helper",
        "system_prompt": "You help launch products.",
        "tools": ["text_count"],
        **overrides,
    }


def test_seeded_agents_exist_in_english_and_spanish():
    slugs = set(Agent.objects.filter(owner__isnull=True).values_list("slug", flat=True))
    for base in [
        "copywriter",
        "seo-specialist",
        "social-media-manager",
        "editor",
        "researcher",
        "brand-strategist",
    ]:
        assert {base, f"{base}-es"} <= slugs
    spanish = Agent.objects.get(slug="editor-es")
    assert spanish.language == "es"
    assert "español" in spanish.system_prompt
    assert len(AGENTS) == 12


def test_free_user_lists_only_agents_their_plan_reaches_with_tools(auth_client):
    rows = {
        a["slug"]: a for a in _results(auth_client.get("/api/ai/agents?page_size=50"))
    }
    assert {"copywriter", "editor-es"} <= set(rows)
    assert "brand-strategist" not in rows  # Pro
    assert "researcher" not in rows  # Starter
    tools = {t["name"]: t for t in rows["copywriter"]["tools"]}
    assert set(tools) == {"brand_voice", "text_count"}
    assert tools["text_count"]["source"] == "builtin"
    assert tools["text_count"]["parameters"]["required"] == ["text"]
    assert rows["copywriter"]["system_prompt"] is None  # public prompts stay private


def test_agent_above_the_plan_is_403_and_unknown_is_404(auth_client):
    response = auth_client.get("/api/ai/agents/brand-strategist")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "plan_feature_required"
    assert auth_client.get("/api/ai/agents/no-such-agent").status_code == 404
    assert auth_client.get("/api/ai/agents/copywriter").json()["slug"] == "copywriter"


def test_free_user_cannot_create_agents(auth_client):
    response = auth_client.post("/api/ai/agents", _new_agent(), format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "plan_feature_required"
    assert response.json()["error"]["details"]["feature"] == "workflows"
    assert not Agent.objects.filter(slug="launch-helper").exists()


def test_pro_user_creates_edits_and_deletes_a_private_agent(auth_client, user):
    _on_plan(user, "pro")
    created = auth_client.post("/api/ai/agents", _new_agent(), format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["owned"] is True
    assert body["system_prompt"] == "You help launch products."
    assert [t["name"] for t in body["tools"]] == ["text_count"]
    assert Agent.objects.get(slug="launch-helper").owner_id == user.pk

    again = auth_client.post("/api/ai/agents", _new_agent(), format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "slug_taken"
    public = auth_client.post(
        "/api/ai/agents", _new_agent(slug="editor"), format="json"
    )
    assert public.status_code == 409

    patched = auth_client.patch(
        "/api/ai/agents/launch-helper",
        {"temperature": 0.3, "tools": ["brand_voice"]},
        format="json",
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["temperature"] == 0.3
    assert [t["name"] for t in patched.json()["tools"]] == ["brand_voice"]
    listed = {
        a["slug"] for a in _results(auth_client.get("/api/ai/agents?page_size=50"))
    }
    assert {"launch-helper", "brand-strategist"} <= listed

    assert auth_client.delete("/api/ai/agents/launch-helper").status_code == 204
    assert not Agent.objects.filter(slug="launch-helper").exists()


def test_agent_input_is_validated(auth_client, user):
    _on_plan(user, "pro")
    cases = [
        _new_agent(tools=["rm_rf"]),
        _new_agent(tools=["mcp:not-mine"]),
        _new_agent(temperature=3),
        _new_agent(slug="Not a slug!"),
        _new_agent(model="no-such-model"),
        {"slug": "x"},
    ]
    for payload in cases:
        response = auth_client.post("/api/ai/agents", payload, format="json")
        assert response.status_code == 400, (payload, response.content)
    response = auth_client.post(
        "/api/ai/agents", _new_agent(model="flowmatik-demo-pro"), format="json"
    )
    assert response.status_code == 201  # Pro reaches the Pro model
    assert not Agent.objects.filter(slug="launch-helper", tools=["rm_rf"]).exists()


def test_no_user_reads_edits_or_deletes_another_users_agent(api_client):
    owner = _on_plan(UserFactory(), "pro")
    intruder = _on_plan(UserFactory(), "pro")
    _client_for(api_client, owner).post("/api/ai/agents", _new_agent(), format="json")
    client = _client_for(api_client, intruder)
    assert client.get("/api/ai/agents/launch-helper").status_code == 404
    assert (
        client.patch(
            "/api/ai/agents/launch-helper", {"name": "mine"}, format="json"
        ).status_code
        == 404
    )
    assert client.delete("/api/ai/agents/launch-helper").status_code == 404
    listed = {a["slug"] for a in _results(client.get("/api/ai/agents?page_size=50"))}
    assert "launch-helper" not in listed
    assert Agent.objects.get(slug="launch-helper").name == "Launch helper"


def test_tools_list_has_the_built_ins(auth_client):
    response = auth_client.get("/api/ai/tools")
    names = {t["name"] for t in _results(response)}
    assert {"search_my_content", "usage_today", "text_count", "brand_voice"} <= names


def _integration(url: str, **overrides) -> dict:
    return {
        "slug": "acme",
        "name": "Acme tools",
        "url": url,
        "auth_header": TOKEN,
        **overrides,
    }


def test_integrations_need_the_business_plan(auth_client, user, mcp_record, settings):
    settings.AI_MCP_ALLOW_PRIVATE_URLS = True
    _on_plan(user, "pro")
    response = auth_client.post(
        "/api/ai/integrations", _integration(mcp_record.url), format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "plan_feature_required"
    assert response.json()["error"]["details"]["feature"] == "integrations"
    assert not McpServer.objects.exists()


def test_business_user_adds_an_integration_whose_tools_agents_can_call(
    auth_client, user, mcp_record, settings
):
    settings.AI_MCP_ALLOW_PRIVATE_URLS = True
    _on_plan(user, "business")
    response = auth_client.post(
        "/api/ai/integrations", _integration(mcp_record.url), format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["has_auth"] is True
    assert "auth_header" not in response.json()
    row = McpServer.objects.get(slug="acme")
    assert TOKEN not in row.auth_header_encrypted  # encrypted at rest
    assert secret_decrypt(token=row.auth_header_encrypted) == TOKEN

    tools = {
        t["name"]: t for t in _results(auth_client.get("/api/ai/tools?page_size=100"))
    }
    assert {"acme__shout", "acme__slow", "acme__explode"} <= set(tools)
    assert tools["acme__shout"]["source"] == "mcp"
    assert tools["acme__shout"]["server"] == "acme"
    assert tools["acme__shout"]["parameters"]["required"] == ["text"]

    created = auth_client.post(
        "/api/ai/agents",
        _new_agent(tools=["mcp:acme/shout", "text_count"]),
        format="json",
    )
    assert created.status_code == 201, created.content
    assert {t["name"] for t in created.json()["tools"]} == {"acme__shout", "text_count"}

    listed = _results(auth_client.get("/api/ai/integrations"))
    assert [i["slug"] for i in listed] == ["acme"]
    assert auth_client.delete("/api/ai/integrations/acme").status_code == 204
    assert not McpServer.objects.exists()


def test_users_cannot_register_private_addresses_by_default(auth_client, user):
    _on_plan(user, "business")
    for url in ["http://127.0.0.1:9/mcp", "https://127.0.0.1/mcp", "ftp://x.example/"]:
        response = auth_client.post(
            "/api/ai/integrations", _integration(url), format="json"
        )
        assert response.status_code == 400, (url, response.content)
    assert not McpServer.objects.exists()


def test_staff_servers_reach_only_the_plans_they_name(api_client, mcp_record):
    from ai.services.agents import mcp_server_save

    mcp_server_save(
        server=McpServer(
            slug="shared", name="Shared", url=mcp_record.url, plans=["pro"]
        ),
        auth_header=TOKEN,
    )
    pro = _client_for(api_client, _on_plan(UserFactory(), "pro"))
    assert "shared__shout" in {
        t["name"] for t in _results(pro.get("/api/ai/tools?page_size=100"))
    }
    starter = _client_for(api_client, _on_plan(UserFactory(), "starter"))
    assert "shared__shout" not in {
        t["name"] for t in _results(starter.get("/api/ai/tools?page_size=100"))
    }


def test_another_users_integration_is_invisible(api_client, mcp_record, settings):
    settings.AI_MCP_ALLOW_PRIVATE_URLS = True
    owner = _on_plan(UserFactory(), "business")
    other = _on_plan(UserFactory(), "business")
    _client_for(api_client, owner).post(
        "/api/ai/integrations", _integration(mcp_record.url), format="json"
    )
    client = _client_for(api_client, other)
    assert "acme__shout" not in {
        t["name"] for t in _results(client.get("/api/ai/tools?page_size=100"))
    }
    assert client.delete("/api/ai/integrations/acme").status_code == 404
    bad = client.post("/api/ai/agents", _new_agent(tools=["mcp:acme"]), format="json")
    assert bad.status_code == 400
    assert McpServer.objects.filter(slug="acme").count() == 1


def test_slugs_are_unique_per_owner_and_the_owner_scope_matches_the_owner(user):
    from django.db import IntegrityError, transaction

    bad = [
        {"slug": "editor"},  # a second public "editor"
        {"slug": "stray", "owner_scope": user.pk},  # public row claiming a scope
        {"slug": "mine", "owner": user, "owner_scope": 0},  # owned row, no scope
    ]
    for fields in bad:
        with pytest.raises(IntegrityError), transaction.atomic():
            Agent.objects.create(name="x", system_prompt="y", **fields)
    Agent.objects.create(
        slug="editor", owner=user, owner_scope=user.pk, name="x", system_prompt="y"
    )  # a user's own agent may shadow a public slug
    with pytest.raises(IntegrityError), transaction.atomic():
        McpServer.objects.create(
            slug="s", name="s", url="https://x.example", owner_scope=3
        )


def test_agent_list_queries_do_not_grow_with_agents(
    auth_client, user, mcp_record, settings
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.AI_MCP_ALLOW_PRIVATE_URLS = True
    _on_plan(user, "business")
    auth_client.post(
        "/api/ai/integrations", _integration(mcp_record.url), format="json"
    )

    def count() -> int:
        auth_client.get("/api/ai/agents?page_size=50")  # warm the caches
        with CaptureQueriesContext(connection) as queries:
            response = auth_client.get("/api/ai/agents?page_size=50")
        assert response.status_code == 200
        return len(queries)

    auth_client.post(
        "/api/ai/agents", _new_agent(slug="a0", tools=["mcp:acme"]), format="json"
    )
    few = count()
    for n in range(1, 6):
        auth_client.post(
            "/api/ai/agents",
            _new_agent(slug=f"a{n}", tools=["mcp:acme"]),
            format="json",
        )
    assert count() == few
    listed = {
        a["slug"]: a for a in _results(auth_client.get("/api/ai/agents?page_size=50"))
    }
    assert {t["name"] for t in listed["a5"]["tools"]} == {
        "acme__shout",
        "acme__slow",
        "acme__explode",
    }


def test_staff_register_mcp_servers_and_agents_in_the_admin(client, mcp_record):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    response = client.post(
        "/admin/ai/mcpserver/add/",
        {
            "slug": "crm",
            "name": "CRM",
            "url": mcp_record.url,
            "auth_header_name": "Authorization",
            "auth_header": TOKEN,
            "plans": '["pro", "business"]',
            "enabled": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    server = McpServer.objects.get(slug="crm")
    assert server.owner_scope == 0
    assert secret_decrypt(token=server.auth_header_encrypted) == TOKEN
    page = client.get(f"/admin/ai/mcpserver/{server.pk}/change/").content.decode()
    assert TOKEN not in page
    assert server.auth_header_encrypted not in page

    # Saving without a new header keeps the stored one.
    response = client.post(
        f"/admin/ai/mcpserver/{server.pk}/change/",
        {
            "slug": "crm",
            "name": "CRM v2",
            "url": mcp_record.url,
            "auth_header_name": "Authorization",
            "auth_header": "",
            "plans": '["pro"]',
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    server.refresh_from_db()
    assert server.name == "CRM v2"
    assert secret_decrypt(token=server.auth_header_encrypted) == TOKEN

    response = client.post(
        "/admin/ai/agent/add/",
        {
            "slug": "crm-helper",
            "name": "CRM helper",
            "language": "en",
            "system_prompt": "You look things up.",
            "tools": '["mcp:crm", "text_count"]',
            "min_plan": "pro",
            "enabled": "on",
            "sort_order": "50",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    agent = Agent.objects.get(slug="crm-helper")
    assert agent.owner_id is None
    assert agent.owner_scope == 0

    pro = _on_plan(UserFactory(), "pro")
    client.force_login(pro)
    body = client.get("/api/ai/agents/crm-helper").json()
    assert {t["name"] for t in body["tools"]} == {
        "crm__shout",
        "crm__slow",
        "crm__explode",
        "text_count",
    }


def test_generate_content_with_an_agent_above_the_plan_is_403(auth_client):
    response = auth_client.post(
        "/api/ai/generate-content",
        {"type": "email", "prompt": "Welcome mail", "agent": "brand-strategist"},
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "plan_feature_required"
    from ai.models import ContentJob

    assert not ContentJob.objects.exists()
