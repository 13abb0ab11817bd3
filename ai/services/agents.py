"""Writes of agents and MCP servers ("integrations"): seed, create, edit, delete.

Users whose plan has `workflows` keep private agents; users whose plan has
`integrations` register their own MCP servers (for their own agents). Staff edit
public ones in the admin, which calls these same services.
"""

import ipaddress
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction

from ai import selectors
from ai.errors import PlanFeatureRequired
from ai.models import Agent, McpServer
from ai.secrets import secret_encrypt
from ai.seed_agents import seed_agents
from ai.tools.builtin import BUILTIN_TOOLS
from ai.tools.registry import MCP_PREFIX
from flowmatik.errors import Conflict, InvalidInput

if TYPE_CHECKING:
    from billing.selectors import PlanInfo

AGENT_FIELDS = (
    "name",
    "description",
    "language",
    "system_prompt",
    "model",
    "temperature",
    "tools",
    "reasoning_depth",
)


def agent_seed_defaults() -> int:
    """Create the missing seeded public agents (idempotent); `manage.py seed`."""
    return seed_agents(Agent)


def _require_feature(plan: "PlanInfo", feature: str) -> None:
    if feature not in plan.features:
        raise PlanFeatureRequired(
            f"Your plan does not include {feature}.", details={"feature": feature}
        )


def _field_error(name: str, message: str) -> InvalidInput:
    return InvalidInput(message, details={"fields": {name: [message]}})


def _validate_agent(*, user_id: int, plan: "PlanInfo", data: dict[str, Any]) -> None:
    """The model must be one the plan may use; tools must be ones the user reaches;
    a declared reasoning depth must be one the plan reaches."""
    if data.get("reasoning_depth"):
        from ai.services.reasoning import reasoning_depth_check

        reasoning_depth_check(plan=plan, depth=data["reasoning_depth"])
    if data.get("model"):
        catalogue = selectors.catalogue_get()
        selectors.model_resolve(
            catalogue,
            model_id=data["model"],
            plan_slug=plan.slug,
            plan_rank=plan.sort_order,
        )
    tools = data.get("tools")
    if tools is None:
        return
    servers = {
        s.slug for s in selectors.mcp_servers_for_user(user_id=user_id, plan=plan)
    }
    for entry in tools:
        server = entry[len(MCP_PREFIX) :].partition("/")[0]
        if entry in BUILTIN_TOOLS or (
            entry.startswith(MCP_PREFIX) and server in servers
        ):
            continue
        raise _field_error("tools", f"Unknown tool or integration: {entry}.")


def agent_create(
    *, user_id: int, plan: "PlanInfo", slug: str, data: dict[str, Any]
) -> Agent:
    """A private agent; 403 without `workflows`, 409 for a taken slug or the limit."""
    _require_feature(plan, "workflows")
    _validate_agent(user_id=user_id, plan=plan, data=data)
    if Agent.objects.filter(owner_scope=0, slug=slug).exists():
        raise Conflict("A public agent uses this slug.", code="slug_taken")
    with transaction.atomic():
        count = Agent.objects.select_for_update().filter(owner_scope=user_id).count()
        if count >= settings.AI_MAX_AGENTS_PER_USER:
            raise Conflict(
                f"You can keep at most {settings.AI_MAX_AGENTS_PER_USER} agents.",
                code="too_many_agents",
            )
        try:
            with transaction.atomic():
                return Agent.objects.create(
                    owner_id=user_id,
                    owner_scope=user_id,
                    slug=slug,
                    **{k: data[k] for k in AGENT_FIELDS if k in data},
                )
        except IntegrityError:
            raise Conflict(
                "You already have an agent with this slug.", code="slug_taken"
            ) from None


def agent_update(
    *, user_id: int, plan: "PlanInfo", slug: str, data: dict[str, Any]
) -> Agent:
    _require_feature(plan, "workflows")
    agent = selectors.agent_get_row(user_id=user_id, slug=slug)
    _validate_agent(user_id=user_id, plan=plan, data=data)
    changed = [k for k in AGENT_FIELDS if k in data]
    for name in changed:
        setattr(agent, name, data[name])
    agent.save(update_fields=[*changed, "updated_at"])
    return agent


def agent_delete(*, user_id: int, slug: str) -> None:
    """Delete the user's own agent (allowed after a downgrade too)."""
    selectors.agent_get_row(user_id=user_id, slug=slug).delete()


# --- MCP servers ---------------------------------------------------------------------


def _check_url(url: str, *, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _field_error("url", "The URL must be http(s)://host/path.")
    if allow_private:
        return
    if parts.scheme != "https":
        raise _field_error("url", "The URL must use https.")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443)
    except OSError:
        raise _field_error("url", "The host name does not resolve.") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise _field_error("url", "The host must be a public address.")


def mcp_server_create(
    *,
    user_id: int,
    plan: "PlanInfo",
    slug: str,
    name: str,
    url: str,
    auth_header_name: str = "Authorization",
    auth_header: str = "",
) -> McpServer:
    """A user's own MCP server; 403 without `integrations`, 409 taken slug/limit."""
    _require_feature(plan, "integrations")
    _check_url(url, allow_private=settings.AI_MCP_ALLOW_PRIVATE_URLS)
    with transaction.atomic():
        count = (
            McpServer.objects.select_for_update().filter(owner_scope=user_id).count()
        )
        if count >= settings.AI_MAX_MCP_SERVERS_PER_USER:
            raise Conflict(
                f"You can add at most {settings.AI_MAX_MCP_SERVERS_PER_USER} "
                "integrations.",
                code="too_many_integrations",
            )
        try:
            with transaction.atomic():
                return McpServer.objects.create(
                    owner_id=user_id,
                    owner_scope=user_id,
                    slug=slug,
                    name=name,
                    url=url,
                    auth_header_name=auth_header_name or "Authorization",
                    auth_header_encrypted=secret_encrypt(plaintext=auth_header),
                )
        except IntegrityError:
            raise Conflict(
                "You already have an integration with this slug.", code="slug_taken"
            ) from None


def mcp_server_delete(*, user_id: int, slug: str) -> None:
    selectors.mcp_server_get_own(user_id=user_id, slug=slug).delete()


def mcp_server_save(*, server: McpServer, auth_header: str | None = None) -> McpServer:
    """Staff's admin save: keeps the owner scope in step; a new header is encrypted
    (None keeps the stored one, '' clears it)."""
    server.owner_scope = server.owner_id or 0
    if auth_header is not None:
        server.auth_header_encrypted = secret_encrypt(plaintext=auth_header)
    server.save()
    return server


def agent_save(*, agent: Agent) -> Agent:
    """Staff's admin save: keeps the owner scope in step with the owner."""
    agent.owner_scope = agent.owner_id or 0
    agent.save()
    return agent
