"""The demo model's ASGI app: `/v1/models`, chat completions, images, speech, video.

A chat whose system prompt says `Content type: <studio type>` is answered with
deterministic text in that type's format (`render.content_text`). Video follows
SiliconFlow's submit + status protocol: `[[polls:N]]` in the prompt sets how many
status calls answer `InProgress` first (default 2), `[[fault:video_failed]]` makes
the task fail; the result is a small real Motion-JPEG AVI.

Fault modes for tests, chosen per request by a directive in the last user message or
by a header: `[[fault:429]]` / `X-Demo-Fault: 429` (also 500, 503, `timeout` = no
answer for TIMEOUT_SLEEP_SECONDS, `broken` = cut the stream after a few chunks,
`empty`, `hang` = a streamed answer's headers then silence, `hang_mid` = a few
chunks then silence; both hang for HANG_SECONDS or until the client leaves),
`429x2` fails only the first two times a prompt is seen, `[[fault_on:critique]]`
keeps the fault to the calls of that ReasoningEngine step (its system prompt says
`Reasoning step: critique`; the `xN` count is then per step), `[[retry_after:7]]`
sets a 429's `Retry-After` (default 0), `[[delay:0.05]]` waits between chunks (once
before a non-streamed answer), `[[words:40]]` sets the answer length.
`app.state.log` records every call for assertions.

Tools and reasoning: offered `tools` are called with OpenAI tool calls
(see `_tool_calls_for`: `[[tools:a,b+c]]` plans the calls step by step,
`[[tools:always]]` never stops); after a tool result the answer starts with
"Tool said: ...". Models named like reasoning models, or `[[reasoning:on]]`, send
`reasoning_content` before the answer.
"""

import asyncio
import json
import time
import uuid
from collections import Counter
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ai.demo import render

DEMO_MODELS = [
    ("flowmatik-demo", "chat"),
    ("flowmatik-demo-pro", "chat"),
    ("flowmatik-demo-image", "image"),
    ("flowmatik-demo-tts", "audio"),
    ("flowmatik-demo-video", "video"),
]
DEFAULT_VIDEO_POLLS = 2
TIMEOUT_SLEEP_SECONDS = 5.0
HANG_SECONDS = 30.0
BROKEN_AFTER_CHUNKS = 3


def _error(status: int, message: str, kind: str, code: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": kind, "code": code}}, status_code=status
    )


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(
                    part.get("text", "") for part in content if isinstance(part, dict)
                )
            return str(content or "")
    return ""


def _system_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(
        str(m.get("content") or "") for m in messages if m.get("role") == "system"
    )


def _prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(
        render.estimate_tokens(json.dumps(m.get("content") or "", ensure_ascii=False))
        + 4
        for m in messages
    )


def _tool_steps_taken(messages: list[dict[str, Any]]) -> int:
    """Assistant turns that asked for tools since the last user message."""
    taken = 0
    for message in reversed(messages):
        if message.get("role") == "user":
            break
        if message.get("role") == "assistant" and message.get("tool_calls"):
            taken += 1
    return taken


def _tool_calls_for(
    messages: list[dict[str, Any]], body: dict[str, Any], prompt: str
) -> list[dict[str, str]]:
    """The calls this turn makes: [{"name", "arguments"}], or [] to answer in text.

    Without a directive: the first offered tool (or `tool_choice`'s) unless the
    last message is a tool result. `[[tools:a,b+c]]` calls `a` at the first step,
    `b` and `c` together at the second, then answers; `[[tools:always]]` calls the
    first tool at every step (to test step limits).
    """
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    tool_choice = body.get("tool_choice")
    if not tools or tool_choice == "none":
        return []
    by_name = {(t.get("function") or {}).get("name"): t for t in tools}
    first = tools[0]
    if isinstance(tool_choice, dict):
        first = by_name.get((tool_choice.get("function") or {}).get("name"), first)
    plan = render.directives(prompt).get("tools", "")
    if plan == "always":
        chosen = [first]
    elif plan:
        steps = [step.split("+") for step in plan.split(",") if step]
        taken = _tool_steps_taken(messages)
        if taken >= len(steps):
            return []
        chosen = [by_name[name] for name in steps[taken] if name in by_name]
    elif messages[-1].get("role") == "tool":
        return []
    else:
        chosen = [first]
    return [
        {
            "name": tool["function"]["name"],
            "arguments": render.tool_arguments(tool, prompt),
        }
        for tool in chosen
    ]


def _call_ids(calls: list[dict[str, str]], completion_id: str):
    for index, call in enumerate(calls):
        yield f"call_{completion_id[-8:]}_{index}", dict(call)


def _reasoning_for(body: dict[str, Any], prompt: str) -> str:
    """What a reasoning model "thinks" (`reasoning_content`): for models named
    like one (`...reason...`, `-R1`) or with `[[reasoning:on]]`."""
    model = str(body.get("model") or "").lower()
    wanted = render.directives(prompt).get("reasoning") == "on"
    if not (wanted or "reason" in model or model.endswith("-r1")):
        return ""
    topic = " ".join(render.strip_directives(prompt).split()[:8]) or "the request"
    return f"Thinking: the user asks about {topic}; plan the answer, then write it."


class DemoState:
    def __init__(self, *, tokens_per_second: float = 0.0) -> None:
        # Stream pace (0 = as fast as possible); a `[[delay:...]]` directive wins
        self.tokens_per_second = tokens_per_second
        self.log: list[dict[str, Any]] = []
        self.seen: Counter[str] = Counter()
        self.disconnects = 0
        self.files: dict[str, tuple[bytes, str]] = {}
        self.videos: dict[str, dict[str, Any]] = {}


def create_app(*, tokens_per_second: float = 0.0) -> Starlette:
    """A fresh demo app with its own state (tests start one per session).

    `tokens_per_second` paces streamed answers (`AI_DEMO_TOKENS_PER_SECOND` for
    `manage.py demo_llm`, so streaming is visible in the portal); 0 = unpaced, as
    the tests' demo server runs (a test may set `state.tokens_per_second`).
    """
    state = DemoState(tokens_per_second=tokens_per_second)

    def _fault(
        request: Request, prompt: str, system: str = ""
    ) -> tuple[str, float, int | None]:
        found = render.directives(prompt)
        fault = request.headers.get("x-demo-fault") or found.get("fault", "")
        delay = float(request.headers.get("x-demo-delay") or found.get("delay") or 0)
        words = found.get("words")
        step = found.get("fault_on", "")
        if step and f"Reasoning step: {step}" not in system:
            fault = ""
        elif step:
            prompt = f"step:{step}:{render.strip_directives(prompt)[:40]}"
        if "x" in fault:
            fault, _, times = fault.partition("x")
            state.seen[prompt] += 1
            if state.seen[prompt] > int(times or 1):
                fault = ""
        return fault, min(delay, 5.0), int(words) if words else None

    def _authorised(request: Request) -> bool:
        return request.headers.get("authorization", "").startswith("Bearer ")

    async def models(request: Request) -> Response:
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {
                        "id": name,
                        "object": "model",
                        "created": 1_700_000_000,
                        "owned_by": "flowmatik-demo",
                        "display_name": render.DEMO_DISPLAY_NAME,
                        "type": kind,
                    }
                    for name, kind in DEMO_MODELS
                ],
            }
        )

    async def chat_completions(request: Request) -> Response:
        if not _authorised(request):
            return _error(401, "Missing API key.", "invalid_request_error", "no_key")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "Body is not JSON.", "invalid_request_error", "bad_json")
        messages = body.get("messages") or []
        if not isinstance(messages, list) or not messages:
            return _error(
                400, "messages is required.", "invalid_request_error", "no_messages"
            )
        prompt = _last_user_text(messages)
        fault, delay, words = _fault(request, prompt, _system_text(messages))
        stream = bool(body.get("stream"))
        entry = {
            "path": "/v1/chat/completions",
            "model": body.get("model"),
            "stream": stream,
            "fault": fault,
            "body": body,
            "request_id": request.headers.get("x-request-id", ""),
        }
        state.log.append(entry)
        if fault in ("429", "500", "502", "503"):
            status = int(fault)
            response = _error(
                status,
                f"demo fault {status} (raw provider body)",
                "rate_limit" if status == 429 else "server_error",
                f"demo_{status}",
            )
            if status == 429:
                retry_after = render.directives(prompt).get("retry_after") or "0"
                response.headers["retry-after"] = retry_after
            return response
        if fault == "timeout" or (fault == "hang" and not stream):
            await asyncio.sleep(TIMEOUT_SLEEP_SECONDS)
        max_tokens = int(body.get("max_tokens") or 64)
        limit = min(words or 24, max_tokens)
        pieces = render.reply_words(prompt, limit=max(words or 24, 1))
        finish = "length" if len(pieces) > limit else "stop"
        pieces = pieces[:limit]
        kind = render.content_type_of(_system_text(messages))
        if kind:
            overlong = render.directives(prompt).get("overlong", "")
            state.seen[f"overlong:{prompt}"] += 1
            text = render.content_text(
                kind=kind,
                prompt=prompt,
                system_text=_system_text(messages),
                overlong=bool(overlong)
                and state.seen[f"overlong:{prompt}"] <= int(overlong or 0),
            )
            pieces = [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]
            finish = "stop"
        calls = _tool_calls_for(messages, body, prompt)
        last = messages[-1]
        if last.get("role") == "tool" and not calls:
            said = " ".join(str(last.get("content") or "").split())[:80]
            pieces = [f"Tool said: {said}."] + [" " + p.lstrip() for p in pieces]
        reasoning = _reasoning_for(body, prompt)
        prompt_tokens = _prompt_tokens(messages)
        completion_id = f"chatcmpl-demo-{uuid.uuid4().hex[:12]}"
        created = int(time.time())
        model = body.get("model") or "flowmatik-demo"

        if not stream:
            if delay:  # a call that stays in flight a while
                await asyncio.sleep(delay)
            message: dict[str, Any] = {"role": "assistant", "content": "".join(pieces)}
            completion_tokens = len(pieces)
            if calls:
                message = {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": call_id, "type": "function", "function": function}
                        for call_id, function in _call_ids(calls, completion_id)
                    ],
                }
                finish = "tool_calls"
                completion_tokens = sum(
                    render.estimate_tokens(c["arguments"]) for c in calls
                )
            if reasoning:
                message["reasoning_content"] = reasoning
                completion_tokens += render.estimate_tokens(reasoning)
            return JSONResponse(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {"index": 0, "message": message, "finish_reason": finish}
                    ],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens,
                    },
                }
            )

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def frame(choices: list, usage: dict | None = None) -> bytes:
            chunk = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
            }
            if usage is not None:
                chunk["usage"] = usage
            return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode()

        async def events():
            sent = 0
            try:
                if fault == "empty":
                    return
                if fault == "hang":  # headers sent, then not one byte
                    await asyncio.sleep(HANG_SECONDS)
                    return
                yield frame(
                    [
                        {
                            "index": 0,
                            "delta": {"role": "assistant"},
                            "finish_reason": None,
                        }
                    ]
                )
                if reasoning:
                    for word in reasoning.split(" "):
                        yield frame(
                            [
                                {
                                    "index": 0,
                                    "delta": {"reasoning_content": word + " "},
                                    "finish_reason": None,
                                }
                            ]
                        )
                if calls:
                    for index, (call_id, function) in enumerate(
                        _call_ids(calls, completion_id)
                    ):
                        arguments = function["arguments"]
                        half = len(arguments) // 2
                        head = {"name": function["name"], "arguments": ""}
                        opening = {"index": index, "id": call_id, "type": "function"}
                        yield frame(
                            [
                                {
                                    "index": 0,
                                    "delta": {
                                        "tool_calls": [{**opening, "function": head}]
                                    },
                                    "finish_reason": None,
                                }
                            ]
                        )
                        for part in (arguments[:half], arguments[half:]):
                            piece = {"index": index, "function": {"arguments": part}}
                            yield frame(
                                [
                                    {
                                        "index": 0,
                                        "delta": {"tool_calls": [piece]},
                                        "finish_reason": None,
                                    }
                                ]
                            )
                    completion_tokens = sum(
                        render.estimate_tokens(c["arguments"]) for c in calls
                    )
                    final_reason = "tool_calls"
                else:
                    pace = delay or (
                        1.0 / state.tokens_per_second
                        if state.tokens_per_second > 0
                        else 0.0
                    )
                    for piece in pieces:
                        if fault == "broken" and sent >= BROKEN_AFTER_CHUNKS:
                            raise ConnectionAbortedError("demo fault: broken stream")
                        if fault == "hang_mid" and sent == BROKEN_AFTER_CHUNKS:
                            await asyncio.sleep(HANG_SECONDS)
                            return
                        if pace:
                            await asyncio.sleep(pace)
                        yield frame(
                            [
                                {
                                    "index": 0,
                                    "delta": {"content": piece},
                                    "finish_reason": None,
                                }
                            ]
                        )
                        sent += 1
                    completion_tokens = len(pieces)
                    final_reason = finish
                if reasoning:
                    completion_tokens += render.estimate_tokens(reasoning)
                yield frame([{"index": 0, "delta": {}, "finish_reason": final_reason}])
                if include_usage:
                    yield frame(
                        [],
                        {
                            "prompt_tokens": prompt_tokens,
                            "completion_tokens": completion_tokens,
                            "total_tokens": prompt_tokens + completion_tokens,
                        },
                    )
                yield b"data: [DONE]\n\n"
                entry["completed"] = True
            except asyncio.CancelledError:
                state.disconnects += 1
                entry["disconnected_after"] = sent
                raise

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-siliconcloud-trace-id": "demo"},
        )

    async def images(request: Request) -> Response:
        if not _authorised(request):
            return _error(401, "Missing API key.", "invalid_request_error", "no_key")
        body = await request.json()
        prompt = str(body.get("prompt") or "")
        if not prompt:
            return _error(400, "prompt is required.", "invalid_request_error", "prompt")
        fault, _, _ = _fault(request, prompt)
        state.log.append(
            {"path": "/v1/images/generations", "fault": fault, "body": body}
        )
        if fault in ("429", "500", "503"):
            return _error(int(fault), "demo fault", "server_error", f"demo_{fault}")
        count = max(1, min(4, int(body.get("batch_size") or 1)))
        seed = int(body.get("seed") or 42)
        urls = []
        for n in range(count):
            file_id = uuid.uuid4().hex
            png = render.render_png(
                f"{prompt} #{n} {seed}", size=str(body.get("image_size") or "512x512")
            )
            state.files[file_id] = (png, "image/png")
            urls.append({"url": f"{str(request.base_url).rstrip('/')}/files/{file_id}"})
        return JSONResponse(
            {"images": urls, "timings": {"inference": 0.01}, "seed": seed}
        )

    async def speech(request: Request) -> Response:
        if not _authorised(request):
            return _error(401, "Missing API key.", "invalid_request_error", "no_key")
        body = await request.json()
        text = str(body.get("input") or "")
        if not text:
            return _error(400, "input is required.", "invalid_request_error", "input")
        if (body.get("response_format") or "wav") not in ("wav", "pcm", "mp3", "opus"):
            return _error(
                400, "Unknown response_format.", "invalid_request_error", "format"
            )
        fault, _, _ = _fault(request, text)
        state.log.append({"path": "/v1/audio/speech", "fault": fault, "body": body})
        if fault in ("429", "500", "503"):
            return _error(int(fault), "demo fault", "server_error", f"demo_{fault}")
        # The demo encodes WAV only: mp3/opus requests get WAV, labelled audio/wav.
        return Response(render.render_wav(text), media_type="audio/wav")

    async def video_submit(request: Request) -> Response:
        if not _authorised(request):
            return _error(401, "Missing API key.", "invalid_request_error", "no_key")
        body = await request.json()
        prompt = str(body.get("prompt") or "")
        if not prompt:
            return _error(400, "prompt is required.", "invalid_request_error", "prompt")
        fault, _, _ = _fault(request, prompt)
        state.log.append({"path": "/v1/video/submit", "fault": fault, "body": body})
        if fault in ("429", "500", "503"):
            return _error(int(fault), "demo fault", "server_error", f"demo_{fault}")
        request_id = uuid.uuid4().hex
        state.videos[request_id] = {
            "prompt": prompt,
            "size": str(body.get("image_size") or "320x180"),
            "polls": 0,
            "needed": int(
                render.directives(prompt).get("polls") or DEFAULT_VIDEO_POLLS
            ),
            "fault": fault,
        }
        return JSONResponse({"requestId": request_id})

    async def video_status(request: Request) -> Response:
        if not _authorised(request):
            return _error(401, "Missing API key.", "invalid_request_error", "no_key")
        body = await request.json()
        video = state.videos.get(str(body.get("requestId") or ""))
        state.log.append({"path": "/v1/video/status", "body": body})
        if video is None:
            return _error(404, "No such request.", "invalid_request_error", "not_found")
        video["polls"] += 1
        if video["fault"] == "video_failed":
            return JSONResponse({"status": "Failed", "reason": "demo video failure"})
        if video["polls"] <= video["needed"]:
            return JSONResponse(
                {"status": "InProgress", "position": 0, "reason": "", "results": None}
            )
        file_id = video.get("file_id")
        if file_id is None:
            file_id = video["file_id"] = uuid.uuid4().hex
            state.files[file_id] = (
                render.render_avi(video["prompt"], size=video["size"]),
                "video/x-msvideo",
            )
        return JSONResponse(
            {
                "status": "Succeed",
                "reason": "",
                "results": {
                    "videos": [
                        {"url": f"{str(request.base_url).rstrip('/')}/files/{file_id}"}
                    ],
                    "timings": {"inference": 0.01},
                    "seed": 42,
                },
            }
        )

    async def files(request: Request) -> Response:
        found = state.files.get(request.path_params["file_id"])
        if not found:
            return _error(404, "No such file.", "invalid_request_error", "not_found")
        return Response(found[0], media_type=found[1])

    app = Starlette(
        routes=[
            Route("/v1/models", models),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/images/generations", images, methods=["POST"]),
            Route("/v1/audio/speech", speech, methods=["POST"]),
            Route("/v1/video/submit", video_submit, methods=["POST"]),
            Route("/v1/video/status", video_status, methods=["POST"]),
            Route("/files/{file_id}", files),
        ]
    )
    app.state.demo = state
    return app
