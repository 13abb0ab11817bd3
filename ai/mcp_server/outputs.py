"""Plain JSON the MCP tools and resources return, read through the ai selectors."""

import json
from dataclasses import asdict
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from ai import selectors
from ai.api.studio_serializers import JobSerializer
from ai.api.studio_views import job_output
from ai.types import ChatResult


def plain(data: Any) -> Any:
    """`data` with datetimes, decimals and the like as JSON strings."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def job_read(*, user_id: int, job_id: int) -> dict[str, Any]:
    """A job as the REST API shows it (fresh signed asset links); 404 if not yours."""
    job = selectors.job_get(user_id=user_id, job_id=job_id)
    return plain(JobSerializer(job_output(job)).data)


def job_list_read(
    *, user_id: int, job_type: str, status: str, limit: int
) -> list[dict[str, Any]]:
    jobs = selectors.job_list(user_id=user_id, job_type=job_type, status=status)
    return [plain(JobSerializer(job_output(job)).data) for job in jobs[:limit]]


def conversation_list_read(
    *, user_id: int, search: str, limit: int
) -> list[dict[str, Any]]:
    rows = selectors.conversation_list(user_id=user_id, search=search)[:limit]
    return [
        plain(
            {
                "id": row.pk,
                "title": row.title,
                "model": row.model,
                "agent": row.agent,
                "message_count": row.message_count,
                "updated_at": row.updated_at,
            }
        )
        for row in rows
    ]


def conversation_read(
    *, user_id: int, conversation_id: int, limit: int
) -> dict[str, Any]:
    """The conversation with its last `limit` messages; 404 if not yours."""
    conversation = selectors.conversation_get(
        user_id=user_id, conversation_id=conversation_id
    )
    messages = list(
        selectors.conversation_messages(conversation=conversation).reverse()[:limit]
    )
    messages.reverse()
    return plain(
        {
            "id": conversation.pk,
            "title": conversation.title,
            "model": conversation.model,
            "agent": conversation.agent,
            "created_at": conversation.created_at,
            "messages": [
                {
                    "id": message.pk,
                    "role": message.role,
                    "content": message.content,
                    "created_at": message.created_at,
                }
                for message in messages
            ],
        }
    )


def transcript(conversation: dict[str, Any]) -> str:
    """A conversation as Markdown: one heading per turn."""
    lines = [f"# {conversation['title'] or 'Conversation'}", ""]
    for message in conversation["messages"]:
        lines += [f"## {message['role']}", "", message["content"], ""]
    return "\n".join(lines)


def job_document(job: dict[str, Any]) -> str:
    """A job's generated content: the text, then links to its assets."""
    lines = [job["result_text"] or f"({job['type']} job, {job['status']})"]
    for asset in job["assets"]:
        lines.append(f"- {asset['kind']} {asset['index']}: {asset['url']}")
    return "\n".join(lines)


def chat_output(result: ChatResult) -> dict[str, Any]:
    return plain(
        {
            "reply": result.content,
            "conversation_id": result.conversation_id,
            "message_id": result.message_id,
            "model": result.model,
            "usage": {
                "prompt_tokens": result.usage.prompt_tokens,
                "completion_tokens": result.usage.completion_tokens,
                "total_tokens": result.usage.total_tokens,
            },
            "cost": result.usage.cost,
            "currency": result.usage.currency,
            "finish_reason": result.finish_reason,
            "reasoning_steps": result.reasoning_steps,
        }
    )


def agent_list_read(*, user_id: int) -> list[dict[str, Any]]:
    from billing.selectors import plan_info_for_user_id

    plan = plan_info_for_user_id(user_id=user_id)
    return [
        {
            key: value
            for key, value in asdict(agent).items()
            if key not in {"system_prompt"}
        }
        for agent in selectors.agent_list_for_user(user_id=user_id, plan=plan)
    ]


def usage_read(*, user_id: int) -> dict[str, Any]:
    from usage import selectors as usage_selectors

    today = usage_selectors.usage_today(user_id=user_id)
    return plain(
        {
            "day": today["day"],
            "quota": usage_selectors.quota_summary_for_user(user_id=user_id),
            "totals": today["totals"],
        }
    )


def workflow_list_read(*, user_id: int, limit: int) -> list[dict[str, Any]]:
    rows = selectors.workflow_list_visible(user_id=user_id)[:limit]
    return [
        {
            "id": row.pk,
            "name": row.name,
            "description": row.description,
            "inputs": row.inputs,
            "steps": [step["name"] for step in row.steps],
            "template": row.owner_id is None,
        }
        for row in rows
    ]
