"""An agent's tool set (built-ins + its MCP servers' tools) and running one call.

Names the model sees are function-calling safe (`^[a-zA-Z0-9_-]{1,64}$`): built-ins
keep theirs, an MCP tool becomes `<server>__<tool>` sanitised. A call always
returns a `ToolOutput`: bad arguments, a tool's exception, a timeout
(AI_TOOL_TIMEOUT_SECONDS) or a failing server become an error result the model
reads; results are cut at AI_TOOL_RESULT_MAX_CHARS.
"""

import asyncio
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from ai import selectors
from ai.models import McpServer
from ai.providers.mcp import (
    McpEndpoint,
    McpFailure,
    ToolOutput,
    mcp_tool_call,
    mcp_tools_list,
)
from ai.secrets import secret_decrypt
from ai.tools.builtin import BUILTIN_TOOLS
from ai.types import AgentInfo
from flowmatik.db_threads import in_worker_thread
from flowmatik.errors import ApplicationError

logger = logging.getLogger("flowmatik.ai")

MCP_PREFIX = "mcp:"
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


@dataclass(frozen=True)
class ToolSpec:
    name: str  # what the model calls
    description: str
    parameters: dict[str, Any]
    source: str  # "builtin" | "mcp"
    server: str = ""  # the MCP server's slug
    remote_name: str = ""  # the MCP tool's own name
    endpoint: McpEndpoint | None = field(default=None, repr=False, compare=False)

    def as_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters or {"type": "object", "properties": {}},
            },
        }

    def as_public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "source": self.source,
            "server": self.server or None,
        }


@dataclass(frozen=True)
class ToolSet:
    tools: dict[str, ToolSpec]

    def openai_tools(self) -> list[dict[str, Any]]:
        return [spec.as_openai() for spec in self.tools.values()]

    def __bool__(self) -> bool:
        return bool(self.tools)


def safe_tool_name(server: str, tool: str, taken: set[str]) -> str:
    base = _UNSAFE.sub("_", f"{server}__{tool}")[:64]
    name, n = base, 1
    while name in taken:
        n += 1
        suffix = f"_{n}"
        name = base[: 64 - len(suffix)] + suffix
    return name


def mcp_endpoint(row: McpServer) -> McpEndpoint:
    headers = {}
    secret = secret_decrypt(token=row.auth_header_encrypted)
    if secret:
        headers[row.auth_header_name or "Authorization"] = secret
    return McpEndpoint(
        server_id=row.pk,
        slug=row.slug,
        url=row.url,
        version=str(row.updated_at.timestamp()),
        headers=headers,
        public_only=row.owner_id is not None and not settings.AI_MCP_ALLOW_PRIVATE_URLS,
    )


def _builtin_spec(name: str) -> ToolSpec:
    tool = BUILTIN_TOOLS[name]
    return ToolSpec(tool.name, tool.description, tool.parameters, "builtin")


async def _server_specs(
    endpoint: McpEndpoint, only: set[str] | None, taken: set[str]
) -> list[ToolSpec]:
    try:
        listed = await mcp_tools_list(endpoint)
    except McpFailure:
        return []  # an unreachable server's tools are left out of this turn
    specs = []
    for tool in listed:
        if only is not None and tool.name not in only:
            continue
        name = safe_tool_name(endpoint.slug, tool.name, taken)
        taken.add(name)
        specs.append(
            ToolSpec(
                name,
                tool.description,
                tool.input_schema,
                "mcp",
                server=endpoint.slug,
                remote_name=tool.name,
                endpoint=endpoint,
            )
        )
    return specs


async def _usable_endpoints(*, user_id: int, plan) -> dict[str, McpEndpoint]:
    rows = await sync_to_async(selectors.mcp_servers_for_user)(
        user_id=user_id, plan=plan
    )
    endpoints = {}
    for row in rows:
        try:
            endpoints[row.slug] = mcp_endpoint(row)
        except ApplicationError:  # a secret the current key cannot read
            logger.warning("MCP server secret unreadable", extra={"mcp": row.slug})
    return endpoints


def _wanted(agent: AgentInfo) -> tuple[dict[str, ToolSpec], dict[str, set[str] | None]]:
    """The agent's built-ins, and per MCP server the tools it allows (None = all)."""
    tools: dict[str, ToolSpec] = {}
    wanted: dict[str, set[str] | None] = {}
    for entry in agent.tools:
        if entry in BUILTIN_TOOLS:
            tools[entry] = _builtin_spec(entry)
        elif entry.startswith(MCP_PREFIX):
            server, _, tool = entry[len(MCP_PREFIX) :].partition("/")
            if tool and wanted.get(server, set()) is not None:
                wanted.setdefault(server, set()).add(tool)
            else:
                wanted[server] = None  # every tool of the server
    return tools, wanted


async def toolsets_for_agents(
    *, user_id: int, plan, agents: list[AgentInfo]
) -> dict[str, ToolSet]:
    """Each agent's tools that this user may reach (unknown names skipped); the
    user's MCP servers are read once for all of them."""
    plans = {agent.slug: _wanted(agent) for agent in agents}
    endpoints: dict[str, McpEndpoint] = {}
    if any(wanted for _, wanted in plans.values()):
        endpoints = await _usable_endpoints(user_id=user_id, plan=plan)
    toolsets = {}
    for slug, (tools, wanted) in plans.items():
        taken = set(tools)
        for server, only in wanted.items():
            if server in endpoints:
                for spec in await _server_specs(endpoints[server], only, taken):
                    tools[spec.name] = spec
        toolsets[slug] = ToolSet(tools)
    return toolsets


async def toolset_for_agent(*, user_id: int, plan, agent: AgentInfo) -> ToolSet:
    """The tools `agent` allows that this user may reach (unknown names skipped)."""
    found = await toolsets_for_agents(user_id=user_id, plan=plan, agents=[agent])
    return found[agent.slug]


async def tools_for_user(*, user_id: int, plan) -> list[ToolSpec]:
    """Everything the caller's agents can call: built-ins and usable servers' tools."""
    specs = [_builtin_spec(name) for name in BUILTIN_TOOLS]
    taken = {s.name for s in specs}
    endpoints = await _usable_endpoints(user_id=user_id, plan=plan)
    for endpoint in endpoints.values():
        specs.extend(await _server_specs(endpoint, None, taken))
    return specs


def _cut(text: str) -> str:
    limit = settings.AI_TOOL_RESULT_MAX_CHARS
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[result cut at {limit} characters]"


def _json(data: Any) -> str:
    return data if isinstance(data, str) else json.dumps(data, default=str)


def _run_builtin(name: str, user_id: int, args: dict[str, Any]) -> Any:
    """On a worker thread (a timed-out call cannot block the loop); its database
    connection is closed afterwards, as Channels' database_sync_to_async does."""
    try:
        return BUILTIN_TOOLS[name].handler(user_id=user_id, **args)
    finally:
        close_old_connections()


async def tool_run(
    *, toolset: ToolSet, user_id: int, name: str, arguments: str
) -> ToolOutput:
    """Run one call the model asked for; never raises (except cancellation)."""
    spec = toolset.tools.get(name)
    if spec is None:
        return ToolOutput(f"Error: no tool named {name!r} is available.", True)
    try:
        args = json.loads(arguments or "{}")
    except ValueError:
        return ToolOutput("Error: the arguments are not valid JSON.", True)
    if not isinstance(args, dict):
        return ToolOutput("Error: the arguments must be a JSON object.", True)
    timeout = settings.AI_TOOL_TIMEOUT_SECONDS
    try:
        if spec.source == "builtin":
            args.pop("user_id", None)  # identity is ours to pass, never the model's
            call = in_worker_thread(_run_builtin)
            data = await asyncio.wait_for(call(name, user_id, args), timeout)
            output = ToolOutput(_json(data))
        else:
            output = await mcp_tool_call(
                spec.endpoint, name=spec.remote_name, arguments=args, timeout=timeout
            )
    except TimeoutError:
        message = f"Error: the tool did not answer within {timeout:g} s."
        output = ToolOutput(message, True)
    except McpFailure as exc:
        output = ToolOutput(f"Error: {exc.message}", True)
    except ApplicationError as exc:
        fields = (exc.details or {}).get("fields")
        extra = f" {json.dumps(fields, default=str)}" if fields else ""
        output = ToolOutput(f"Error: {exc.message}{extra}", True)
    except TypeError:
        output = ToolOutput("Error: unexpected or missing arguments.", True)
    except Exception:
        logger.exception("Built-in tool failed", extra={"tool": name})
        output = ToolOutput("Error: the tool failed.", True)
    return ToolOutput(_cut(output.text), output.is_error)
