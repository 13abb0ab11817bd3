"""What each text content type asks the model for, and how its answer is read.

Pure functions (no I/O): the system prompt of a content type (brand voice, agent
persona, language and the type's options folded in), the parser that turns the
model's labelled plain-text answer into the job's structured result, and the length
rules (social networks' caption limits, SEO title/description) with the
sentence-boundary cut used when a regenerated answer is still too long.
"""

import re
from dataclasses import dataclass, field
from typing import Any

# Caption limits per network (characters); Facebook's post limit is 63,206.
NETWORK_LIMITS = {
    "x": 280,
    "linkedin": 3000,
    "instagram": 2200,
    "tiktok": 2200,
    "facebook": 63_206,
}
SEO_TITLE_MAX = 60
SEO_DESCRIPTION_MAX = 160
SHORTER_TARGET = 0.8  # the regenerate pass asks for 80% of the limit
VARIANT_SEPARATOR = "\n---\n"
LENGTH_WORDS = {"short": 150, "medium": 600, "long": 1200}
LANGUAGE_NAMES = {"en": "English", "es": "Spanish"}

_FORMATS = {
    "blog_post": (
        "Write a blog post in Markdown. Start with the title as `# Title`, then "
        "the body with `##` section headings."
    ),
    "social_post": (
        "Write {count} alternative social media post(s) for {network}. Separate "
        "variants with a line containing only `---`. No preamble."
    ),
    "email": (
        "Write an e-mail. First line `Subject: <subject>`, then a blank line, then "
        "the body."
    ),
    "ad_copy": (
        "Write {variants} ad variant(s) for {platform}. Each variant: a line "
        "`Headline: <headline>`, then the ad text. Separate variants with a line "
        "containing only `---`."
    ),
    "product_description": "Write a product description for an online store.",
    "video_script": (
        "Write a video script of about {duration} seconds in {scenes} scenes, one "
        "line per scene: `Scene N: Visual: <what we see> Voiceover: <what is said>`."
    ),
    "seo_meta": (
        "Write SEO metadata as three lines: `Title: <title>`, `Description: "
        "<description>`, `Keywords: <comma-separated keywords>`."
    ),
}


@dataclass(frozen=True)
class LengthCheck:
    """Which parts of a parsed result break a length limit."""

    too_long: list[str] = field(default_factory=list)
    limit_note: str = ""

    @property
    def ok(self) -> bool:
        return not self.too_long


def _limit_line(kind: str, options: dict[str, Any], shorter: bool) -> str:
    factor = SHORTER_TARGET if shorter else 1.0
    if kind == "social_post":
        limit = int(NETWORK_LIMITS[options["network"]] * factor)
        return f"Each variant must be at most {limit} characters, hashtags included."
    if kind == "seo_meta":
        title = int(SEO_TITLE_MAX * factor)
        description = int(SEO_DESCRIPTION_MAX * factor)
        return (
            f"The title must be at most {title} characters; the description at "
            f"most {description} characters."
        )
    return ""


def system_prompt(
    *,
    kind: str,
    options: dict[str, Any],
    language: str,
    persona: str,
    profile: str,
    shorter: bool = False,
) -> str:
    """The system message of one text generation (`shorter`: the retry pass)."""
    lines = [persona, f"Content type: {kind}."]
    lines.append(_FORMATS[kind].format(**_format_values(kind, options)))
    if options.get("count"):
        lines.append(f"Variants: {options['count']}.")
    if options.get("variants"):
        lines.append(f"Variants: {options['variants']}.")
    if options.get("scenes"):
        lines.append(f"Scenes: {options['scenes']}.")
    limit = _limit_line(kind, options, shorter)
    if limit:
        lines.append(limit)
    lines.append(f"Write in {LANGUAGE_NAMES.get(language, 'English')}.")
    for name, label in (
        ("title", "Title"),
        ("subject", "Subject"),
        ("product_name", "Product"),
        ("tone", "Tone"),
        ("audience", "Audience"),
        ("purpose", "Purpose"),
        ("url", "Page URL"),
    ):
        if options.get(name):
            lines.append(f"{label}: {options[name]}.")
    if options.get("length") and kind in ("blog_post", "product_description"):
        lines.append(f"Length: about {LENGTH_WORDS[options['length']]} words.")
    if options.get("outline"):
        lines.append("Outline: " + "; ".join(options["outline"]) + ".")
    if options.get("features"):
        lines.append("Features: " + "; ".join(options["features"]) + ".")
    if options.get("keywords"):
        lines.append("Keywords: " + ", ".join(options["keywords"]) + ".")
    if kind == "social_post":
        lines.append(
            "Include a few relevant hashtags."
            if options.get("hashtags", True)
            else "Do not use hashtags."
        )
    if profile:
        lines.append(profile)
    return "\n".join(line for line in lines if line)


def _format_values(kind: str, options: dict[str, Any]) -> dict[str, Any]:
    return {
        "count": options.get("count", 1),
        "network": options.get("network", ""),
        "variants": options.get("variants", 1),
        "platform": options.get("platform", ""),
        "duration": options.get("duration", 60),
        "scenes": options.get("scenes", 4),
    }


def _label(text: str, label: str) -> str:
    found = re.search(rf"^\s*\**{label}\**\s*:\s*(.+)$", text, re.I | re.M)
    return found.group(1).strip() if found else ""


def _variants(text: str) -> list[str]:
    parts = re.split(r"^\s*-{3,}\s*$", text, flags=re.M)
    return [p.strip() for p in parts if p.strip()]


def parse(kind: str, text: str) -> dict[str, Any]:
    """The structured result of `kind` read from the model's answer (tolerant:
    a missing label leaves that field empty, the full text is always kept)."""
    text = text.strip()
    if kind == "blog_post":
        title = re.search(r"^\s*#\s+(.+)$", text, re.M)
        body = text[title.end() :].strip() if title else text
        return {"title": title.group(1).strip() if title else "", "body": body}
    if kind == "social_post":
        return {"variants": [{"text": v, "length": len(v)} for v in _variants(text)]}
    if kind == "ad_copy":
        variants = []
        for part in _variants(text):
            headline = _label(part, "Headline")
            body = re.sub(r"^\s*\**Headline\**\s*:.*$", "", part, flags=re.I | re.M)
            variants.append({"headline": headline, "text": body.strip()})
        return {"variants": variants}
    if kind == "email":
        subject = _label(text, "Subject")
        body = re.sub(r"^\s*\**Subject\**\s*:.*$", "", text, count=1, flags=re.I | re.M)
        return {"subject": subject, "body": body.strip()}
    if kind == "video_script":
        scenes = []
        for match in re.finditer(r"^\s*Scene\s+(\d+)\s*:\s*(.+)$", text, re.I | re.M):
            line = match.group(2)
            visual = re.search(r"Visual:\s*(.*?)(?:Voiceover:|$)", line, re.I)
            voice = re.search(r"Voiceover:\s*(.*)$", line, re.I)
            scenes.append(
                {
                    "scene": int(match.group(1)),
                    "visual": visual.group(1).strip() if visual else line.strip(),
                    "voiceover": voice.group(1).strip() if voice else "",
                }
            )
        return {"scenes": scenes}
    if kind == "seo_meta":
        keywords = [k.strip() for k in _label(text, "Keywords").split(",") if k.strip()]
        return {
            "title": _label(text, "Title"),
            "description": _label(text, "Description"),
            "keywords": keywords,
        }
    return {"body": text}


def length_check(kind: str, options: dict[str, Any], result: dict) -> LengthCheck:
    """Which parts of `result` exceed the type's limits (none for most types)."""
    if kind == "social_post":
        limit = NETWORK_LIMITS[options["network"]]
        too_long = [
            f"variants[{i}]"
            for i, v in enumerate(result["variants"])
            if len(v["text"]) > limit
        ]
        return LengthCheck(too_long, f"{options['network']}: {limit} characters")
    if kind == "seo_meta":
        too_long = []
        if len(result["title"]) > SEO_TITLE_MAX:
            too_long.append("title")
        if len(result["description"]) > SEO_DESCRIPTION_MAX:
            too_long.append("description")
        return LengthCheck(
            too_long,
            f"title {SEO_TITLE_MAX}, description {SEO_DESCRIPTION_MAX} characters",
        )
    return LengthCheck()


def cut_at_sentence(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters at the last sentence end that fits
    (else the last word boundary; a single over-long word is hard-cut)."""
    text = text.strip()
    if len(text) <= limit:
        return text
    head = text[:limit]
    ends = [m.end() for m in re.finditer(r"[.!?…](?=\s|$)", head)]
    if ends:
        return head[: ends[-1]].strip()
    space = head.rfind(" ")
    return (head[:space] if space > 0 else head).rstrip(" ,;:-")


def cut_to_limits(kind: str, options: dict[str, Any], result: dict) -> dict:
    """`result` with every over-long part cut at a sentence boundary."""
    if kind == "social_post":
        limit = NETWORK_LIMITS[options["network"]]
        variants = []
        for variant in result["variants"]:
            text = cut_at_sentence(variant["text"], limit)
            variants.append({"text": text, "length": len(text)})
        return {**result, "variants": variants}
    if kind == "seo_meta":
        return {
            **result,
            "title": cut_at_sentence(result["title"], SEO_TITLE_MAX),
            "description": cut_at_sentence(result["description"], SEO_DESCRIPTION_MAX),
        }
    return result


def render_text(kind: str, result: dict, fallback: str) -> str:
    """The job's `result_text` after cuts (the model's text when nothing changed)."""
    if kind == "social_post":
        return VARIANT_SEPARATOR.join(v["text"] for v in result["variants"])
    if kind == "seo_meta":
        return (
            f"Title: {result['title']}\nDescription: {result['description']}\n"
            f"Keywords: {', '.join(result['keywords'])}"
        )
    return fallback.strip()
