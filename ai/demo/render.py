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
        if (schema or {}).get("enum"):
            args[name] = schema["enum"][0]
        elif kind in ("integer", "number"):
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


# --- content types (the studio's formats) -------------------------------------------

_CONTENT_TYPE = re.compile(r"Content type: (\w+)")
_MAX_CHARS = re.compile(r"at most (\d+) characters")
_VARIANTS = re.compile(r"Variants: (\d+)")
_SCENES = re.compile(r"Scenes: (\d+)")
_DEMO_TAG = "[Local demo model]"


def content_type_of(system_text: str) -> str:
    """The studio content type a system prompt asks for ("" for plain chat)."""
    found = _CONTENT_TYPE.search(system_text)
    return found.group(1) if found else ""


def _sentences(seed_text: str, count: int, *, words: int = 8) -> list[str]:
    """`count` deterministic sentences of `words` words each."""
    digest = hashlib.sha256(seed_text.encode()).digest()
    out = []
    for n in range(count):
        picked = [
            _WORDS[(digest[(n * 7 + i) % len(digest)] + n) % len(_WORDS)]
            for i in range(words)
        ]
        out.append(" ".join(picked).capitalize() + ".")
    return out


def _fit(text: str, limit: int | None) -> str:
    """Whole sentences of `text` within `limit` characters (the demo obeys)."""
    if limit is None or len(text) <= limit:
        return text
    kept = ""
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        candidate = f"{kept} {sentence}".strip()
        if len(candidate) > limit:
            break
        kept = candidate
    return kept or text[:limit]


def content_text(*, kind: str, prompt: str, system_text: str, overlong: bool) -> str:
    """Deterministic text in the studio's format for `kind`.

    Honours "at most N characters", "Variants: N" and "Scenes: N" from the system
    prompt; `overlong` (the `[[overlong:N]]` directive) ignores the length target so
    tests can see the regenerate-then-cut path. `[[words:N]]` sets sentence count.
    """
    clean = strip_directives(prompt)
    topic = " ".join(clean.split()[:8]) or "your topic"
    found = directives(prompt)
    sentences = max(1, int(found.get("words") or 0) // 8 or 3)
    limit_match = _MAX_CHARS.search(system_text)
    limit = None if overlong or not limit_match else int(limit_match.group(1))
    variants = int((_VARIANTS.search(system_text) or [None, "1"])[1])
    scenes = int((_SCENES.search(system_text) or [None, "3"])[1])
    body = " ".join(_sentences(clean + kind, sentences))
    if kind == "blog_post":
        parts = _sentences(clean + "blog", 3 * sentences)
        return (
            f"# {topic.capitalize()}\n\n{_DEMO_TAG} {' '.join(parts[:sentences])}\n\n"
            f"## Why it matters\n\n{' '.join(parts[sentences : 2 * sentences])}\n\n"
            f"## Conclusion\n\n{' '.join(parts[2 * sentences :])}"
        )
    if kind in ("social_post", "ad_copy"):
        out = []
        for n in range(max(1, variants)):
            text = " ".join(_sentences(f"{clean}{kind}{n}", sentences))
            if kind == "ad_copy":
                text = f"Headline: {topic.capitalize()} {n + 1}\n{_DEMO_TAG} {text}"
            else:
                text = _fit(f"{_DEMO_TAG} {text} #content #{_WORDS[n]}", limit)
            out.append(text)
        return "\n---\n".join(out)
    if kind == "email":
        return f"Subject: {topic.capitalize()}\n\nHello,\n\n{_DEMO_TAG} {body}\n\nBest"
    if kind == "video_script":
        lines = []
        for n in range(max(1, scenes)):
            shot, voice = _sentences(f"{clean}scene{n}", 2)
            lines.append(f"Scene {n + 1}: Visual: {shot} Voiceover: {voice}")
        return f"{_DEMO_TAG}\n" + "\n".join(lines)
    if kind == "seo_meta":
        title = topic.capitalize() if overlong else _fit(topic.capitalize(), 60)
        if overlong:
            title = f"{title} — {' '.join(_sentences(clean, 2))}"
        description = " ".join(_sentences(clean + "seo", 4 if overlong else 2))
        if not overlong:
            description = _fit(description, 160)
        digest = hashlib.sha256(clean.encode()).digest()[:5]
        keywords = ", ".join(dict.fromkeys(_WORDS[b % len(_WORDS)] for b in digest))
        return f"Title: {title}\nDescription: {description}\nKeywords: {keywords}"
    return f"{_DEMO_TAG} {body}"


def render_avi(prompt: str, *, size: str = "320x180", frames: int = 12) -> bytes:
    """A real (Motion-JPEG AVI) video: `frames` frames of a moving colour bar."""
    try:
        width, height = (max(16, min(1280, int(v))) for v in size.lower().split("x"))
    except ValueError:
        width, height = 320, 180
    fps = 6
    digest = hashlib.sha256(prompt.encode()).digest()
    jpegs = []
    for n in range(frames):
        image = Image.new("RGB", (width, height), tuple(digest[:3]))
        draw = ImageDraw.Draw(image)
        x = int((width - 20) * n / max(1, frames - 1))
        draw.rectangle([x, 0, x + 20, height], fill=tuple(digest[3:6]))
        draw.text((8, 8), DEMO_DISPLAY_NAME, fill=(255, 255, 255))
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=70)
        jpegs.append(out.getvalue())

    def chunk(fourcc: bytes, data: bytes) -> bytes:
        pad = b"\0" if len(data) % 2 else b""
        return fourcc + struct.pack("<I", len(data)) + data + pad

    def riff_list(kind: bytes, data: bytes) -> bytes:
        return b"LIST" + struct.pack("<I", len(data) + 4) + kind + data

    biggest = max(len(j) for j in jpegs)
    avih = struct.pack(
        "<14I",
        1_000_000 // fps,
        biggest * fps,
        0,
        0x10,  # AVIF_HASINDEX
        frames,
        0,
        1,
        biggest,
        width,
        height,
        0,
        0,
        0,
        0,
    )
    strh = (
        b"vidsMJPG"
        + struct.pack("<IHHIIIIIIII", 0, 0, 0, 0, 1, fps, 0, frames, biggest, 0, 0)
        + struct.pack("<4h", 0, 0, width, height)
    )
    strf = struct.pack(
        "<IiiHH4sIiiII",
        40,
        width,
        height,
        1,
        24,
        b"MJPG",
        width * height * 3,
        0,
        0,
        0,
        0,
    )
    hdrl = riff_list(
        b"hdrl",
        chunk(b"avih", avih)
        + riff_list(b"strl", chunk(b"strh", strh) + chunk(b"strf", strf)),
    )
    movi_body, index, offset = b"", b"", 4
    for jpeg in jpegs:
        piece = chunk(b"00dc", jpeg)
        index += b"00dc" + struct.pack("<III", 0x10, offset, len(jpeg))
        movi_body += piece
        offset += len(piece)
    body = b"AVI " + hdrl + riff_list(b"movi", movi_body) + chunk(b"idx1", index)
    return b"RIFF" + struct.pack("<I", len(body)) + body
