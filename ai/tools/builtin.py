"""The built-in tools: things the platform does for the user, in the user's name.

Each handler takes the caller's `user_id` (passed by the agent loop from the
authenticated identity) and the model's arguments, and returns JSON-ready data.
Arguments never choose whose data is read: there is no user parameter at all.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ai.models import JobType
from flowmatik.errors import InvalidInput

SEARCH_MAX_RESULTS = 10
SNIPPET_CHARS = 240

# Published character limits of a post/caption per network.
NETWORK_LIMITS = {
    "x": 280,
    "twitter": 280,
    "threads": 500,
    "bluesky": 300,
    "mastodon": 500,
    "linkedin": 3_000,
    "instagram": 2_200,
    "facebook": 63_206,
    "tiktok": 2_200,
    "youtube_title": 100,
    "youtube_description": 5_000,
    "pinterest": 500,
    "seo_title": 60,
    "meta_description": 155,
}


@dataclass(frozen=True)
class BuiltinTool:
    name: str
    description: str
    parameters: dict[str, Any]
    handler: Callable[..., Any]  # (user_id=..., **arguments) -> JSON-ready data


def _snippet(text: str, query: str) -> str:
    at = text.lower().find(query.lower())
    start = max(0, at - SNIPPET_CHARS // 3) if at >= 0 else 0
    return " ".join(text[start : start + SNIPPET_CHARS].split())


def search_my_content(*, user_id: int, query: str, limit: int = 5) -> dict:
    """The user's conversations (titles and messages) matching `query`."""
    from ai.models import Conversation, Message
    from ai.selectors import job_list

    query = str(query or "").strip()[:200]
    if not query:
        raise InvalidInput("query must not be empty.")
    limit = max(1, min(int(limit or 5), SEARCH_MAX_RESULTS))
    results: list[dict] = []
    for conv in Conversation.objects.filter(user_id=user_id, title__icontains=query)[
        :limit
    ]:
        results.append(
            {"kind": "conversation", "conversation_id": conv.pk, "title": conv.title}
        )
    messages = (
        Message.objects.filter(
            conversation__user_id=user_id,
            role__in=["user", "assistant"],
            content__icontains=query,
        )
        .select_related("conversation")
        .order_by("-id")[:limit]
    )
    for message in messages:
        results.append(
            {
                "kind": "message",
                "conversation_id": message.conversation_id,
                "title": message.conversation.title,
                "role": message.role,
                "snippet": _snippet(message.content, query),
            }
        )
    for job in job_list(user_id=user_id, search=query)[:limit]:
        results.append(
            {
                "kind": "content_job",
                "job_id": job.pk,
                "type": job.type,
                "status": job.status,
                "snippet": _snippet(job.result_text or job.prompt, query),
            }
        )
    return {"query": query, "results": results}


def usage_today(*, user_id: int) -> dict:
    """Today's requests/tokens used and the plan's limits (None = unlimited)."""
    from billing.selectors import plan_info_for_user_id
    from usage.selectors import quota_summary_for_user

    plan = plan_info_for_user_id(user_id=user_id)
    return {"plan": plan.slug, **quota_summary_for_user(user_id=user_id)}


def text_count(*, user_id: int, text: str, network: str = "") -> dict:
    """Words and characters of `text`, against a network's length limit."""
    text = str(text or "")
    network = str(network or "").strip().lower()
    data: dict[str, Any] = {
        "characters": len(text),
        "words": len(text.split()),
        "lines": text.count("\n") + 1 if text else 0,
    }
    if network:
        limit = NETWORK_LIMITS.get(network)
        if limit is None:
            raise InvalidInput(
                f"Unknown network; use one of: {', '.join(sorted(NETWORK_LIMITS))}."
            )
        data.update(
            network=network,
            limit=limit,
            fits=len(text) <= limit,
            remaining=limit - len(text),
        )
    return data


def brand_voice(*, user_id: int) -> dict:
    """The user's brand voice, company and bio as set in their profile."""
    from ai.context import profile_context

    profile = profile_context(user_id)
    return {"profile": profile or "The user has not set a brand voice or bio yet."}


def content_job_start(
    *, user_id: int, type: str, prompt: str, options: dict | None = None
) -> dict:
    """Start a content-studio job in the user's name (plan gates and quotas apply).

    The tool is an interface like the generate-content view: the same input
    serializer checks the type, prompt and options, then the same service runs.
    """
    from ai.api.studio_serializers import GenerateContentInputSerializer
    from ai.services.jobs import job_create

    serializer = GenerateContentInputSerializer(
        data={"type": type, "prompt": prompt, "options": options or {}}
    )
    if not serializer.is_valid():
        raise InvalidInput(details={"fields": serializer.errors})
    data = serializer.validated_data
    job = job_create(
        user_id=user_id,
        job_type=data["type"],
        prompt=data["prompt"],
        options=data["options"],
    )
    return {"job_id": job.pk, "type": job.type, "status": job.status}


def content_job_result(*, user_id: int, job_id: int) -> dict:
    """A job of the user's: its status and, once done, its text and assets."""
    from ai.selectors import job_get

    try:
        job_id = int(job_id)
    except (TypeError, ValueError):
        raise InvalidInput("job_id must be an integer.") from None
    job = job_get(user_id=user_id, job_id=job_id)
    return {
        "job_id": job.pk,
        "type": job.type,
        "status": job.status,
        "progress": job.progress,
        "result_text": job.result_text,
        "assets": [
            {"kind": asset.kind, "content_type": asset.content_type}
            for asset in job.assets.all()
        ],
        "error_code": job.error_code or None,
    }


_STRING = {"type": "string"}
BUILTIN_TOOLS: dict[str, BuiltinTool] = {
    tool.name: tool
    for tool in [
        BuiltinTool(
            "search_my_content",
            "Search the user's own conversations and generated content by keyword.",
            {
                "type": "object",
                "properties": {
                    "query": {**_STRING, "description": "Words to look for."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 10},
                },
                "required": ["query"],
            },
            search_my_content,
        ),
        BuiltinTool(
            "usage_today",
            "The user's AI usage today and their plan's daily limits.",
            {"type": "object", "properties": {}},
            usage_today,
        ),
        BuiltinTool(
            "text_count",
            "Count words and characters of a text and check it against a social "
            "network's length limit.",
            {
                "type": "object",
                "properties": {
                    "text": _STRING,
                    "network": {**_STRING, "enum": sorted(NETWORK_LIMITS)},
                },
                "required": ["text"],
            },
            text_count,
        ),
        BuiltinTool(
            "content_job_start",
            "Start a content-studio job (blog post, social post, e-mail, ad copy, "
            "product description, video script, SEO meta, image, audio, video) and "
            "get its job_id; read it with content_job_result.",
            {
                "type": "object",
                "properties": {
                    "type": {**_STRING, "enum": [t.value for t in JobType]},
                    "prompt": {**_STRING, "description": "The brief."},
                    "options": {
                        "type": "object",
                        "description": "Per-type options, as /api/ai/generate-content "
                        "takes them.",
                    },
                },
                "required": ["type", "prompt"],
            },
            content_job_start,
        ),
        BuiltinTool(
            "content_job_result",
            "The status of a content job started earlier and, once it succeeded, "
            "its text and assets.",
            {
                "type": "object",
                "properties": {"job_id": {"type": "integer"}},
                "required": ["job_id"],
            },
            content_job_result,
        ),
        BuiltinTool(
            "brand_voice",
            "The user's brand voice, company and bio from their profile.",
            {"type": "object", "properties": {}},
            brand_voice,
        ),
    ]
}
