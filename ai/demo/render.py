"""What the demo model produces: deterministic text, a PNG and a WAV from a prompt."""

import hashlib
import io
import json
import math
import re
import struct
import wave

from PIL import Image, ImageDraw

DEMO_DISPLAY_NAME = "Local demo model"
_WORDS = [
    "content",
    "ideas",
    "brand",
    "audience",
    "story",
    "draft",
    "headline",
    "post",
    "campaign",
    "hook",
    "insight",
    "tone",
    "voice",
    "clear",
    "simple",
    "bold",
    "friendly",
    "launch",
    "weekly",
    "plan",
    "outline",
    "summary",
    "value",
    "reader",
    "growth",
    "channel",
    "calendar",
]
_DIRECTIVE = re.compile(r"\[\[(\w+):([^\]]*)\]\]")


def directives(text: str) -> dict[str, str]:
    """`[[fault:429x1]]`, `[[delay:0.05]]`, `[[words:40]]` found in a prompt."""
    return {name.lower(): value.strip() for name, value in _DIRECTIVE.findall(text)}


def strip_directives(text: str) -> str:
    return _DIRECTIVE.sub("", text).strip()


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text.encode()) / 4))


def reply_words(prompt: str, *, limit: int) -> list[str]:
    """The demo answer as a list of word tokens (each one "token"), deterministic."""
    clean = strip_directives(prompt)
    snippet = " ".join(clean.split()[:12]) or "nothing"
    head = f"[Local demo model — not a real LLM] You said: “{snippet}”. Reply:".split()
    seed = hashlib.sha256(clean.encode()).digest()
    count = max(1, limit - len(head))
    tail = [_WORDS[seed[i % len(seed)] % len(_WORDS)] for i in range(count)]
    tail[-1] = tail[-1] + "."
    words = head + tail
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def tool_arguments(tool: dict, prompt: str) -> str:
    """Arguments for the first offered tool, filled from its JSON schema."""
    params = (tool.get("function") or {}).get("parameters") or {}
    props = params.get("properties") or {}
    clean = strip_directives(prompt)[:60] or "demo"
    args = {}
    for name, schema in props.items():
        kind = (schema or {}).get("type", "string")
        if kind in ("integer", "number"):
            args[name] = 1
        elif kind == "boolean":
            args[name] = True
        elif kind == "array":
            args[name] = [clean]
        elif kind == "object":
            args[name] = {}
        else:
            args[name] = clean
    return json.dumps(args, ensure_ascii=False)


def render_png(prompt: str, *, size: str = "512x512") -> bytes:
    """A real PNG: a gradient coloured by the prompt, with the prompt written on it."""
    try:
        width, height = (max(16, min(2048, int(v))) for v in size.lower().split("x"))
    except ValueError:
        width, height = 512, 512
    digest = hashlib.sha256(prompt.encode()).digest()
    start, end = digest[:3], digest[3:6]
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / max(1, height - 1)
        colour = tuple(int(start[i] * (1 - t) + end[i] * t) for i in range(3))
        draw.line([(0, y), (width, y)], fill=colour)
    draw.text((10, 10), DEMO_DISPLAY_NAME, fill=(255, 255, 255))
    draw.text((10, 30), strip_directives(prompt)[:60], fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def render_wav(text: str, *, sample_rate: int = 16000) -> bytes:
    """A real WAV: one short tone per character (pitch from the character)."""
    clean = strip_directives(text)[:200] or "demo"
    frames = bytearray()
    tone = int(sample_rate * 0.04)
    for char in clean:
        freq = 220 + (ord(char) % 48) * 20
        for n in range(tone):
            value = int(8000 * math.sin(2 * math.pi * freq * n / sample_rate))
            frames += struct.pack("<h", value)
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(bytes(frames))
    return out.getvalue()
