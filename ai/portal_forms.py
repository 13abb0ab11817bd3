"""The studio page's form: one input per option of each content type, built from the
API's own option serializers (so the page offers exactly what the API accepts), and
the parsing of the posted form back into the API's request body.

Inputs are named ``<type>-<option>``; empty inputs are left out so the serializer's
defaults apply. Lists are typed one item per line (or comma-separated).
"""

from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ai.api.studio_serializers import OPTIONS_SERIALIZERS
from ai.models import JobStatus, JobType

TYPE_LABELS: dict[str, Promise] = {
    JobType.BLOG_POST: _("Blog post"),
    JobType.SOCIAL_POST: _("Social media post"),
    JobType.EMAIL: _("E-mail"),
    JobType.AD_COPY: _("Ad copy"),
    JobType.PRODUCT_DESCRIPTION: _("Product description"),
    JobType.VIDEO_SCRIPT: _("Video script"),
    JobType.SEO_META: _("SEO metadata"),
    JobType.IMAGE: _("Image"),
    JobType.AUDIO: _("Audio (text to speech)"),
    JobType.VIDEO: _("Video"),
    JobType.WORKFLOW: _("Workflow run"),
}
STATUS_LABELS: dict[str, Promise] = {
    JobStatus.QUEUED: _("Queued"),
    JobStatus.RUNNING: _("Running"),
    JobStatus.SUCCEEDED: _("Finished"),
    JobStatus.FAILED: _("Failed"),
    JobStatus.CANCELED: _("Canceled"),
}
OPTION_LABELS: dict[str, Promise] = {
    "tone": _("Tone"),
    "language": _("Language"),
    "audience": _("Audience"),
    "title": _("Title"),
    "outline": _("Outline (one section per line)"),
    "length": _("Length"),
    "keywords": _("Keywords (one per line or comma-separated)"),
    "network": _("Network"),
    "count": _("Number of variants"),
    "hashtags": _("Hashtags"),
    "purpose": _("Purpose"),
    "subject": _("Subject"),
    "platform": _("Platform"),
    "variants": _("Number of variants"),
    "product_name": _("Product name"),
    "features": _("Features (one per line)"),
    "duration": _("Duration (seconds)"),
    "scenes": _("Scenes"),
    "url": _("Page URL"),
    "size": _("Size (width x height)"),
    "negative_prompt": _("Avoid (negative prompt)"),
    "seed": _("Seed"),
    "voice": _("Voice"),
    "format": _("Audio format"),
    "speed": _("Speed"),
}
CHOICE_LABELS: dict[str, Promise] = {
    "short": _("Short"),
    "medium": _("Medium"),
    "long": _("Long"),
    "newsletter": _("Newsletter"),
    "promotional": _("Promotional"),
    "welcome": _("Welcome"),
    "follow_up": _("Follow-up"),
    "announcement": _("Announcement"),
    "outreach": _("Outreach"),
    "other": _("Other"),
    "true": _("Yes"),
    "false": _("No"),
}
STUDIO_TYPES = [t for t in JobType.values if t != JobType.WORKFLOW]


@dataclass(frozen=True)
class OptionInput:
    """One option as an HTML input."""

    name: str  # the option's name in the API
    input_name: str  # "<type>-<name>"
    label: str
    kind: str  # select | number | text | textarea
    required: bool = False
    choices: list[tuple[str, str]] = field(default_factory=list)
    minimum: Any = None
    maximum: Any = None
    step: str = "1"
    default: str = ""
    value: str = ""


@dataclass(frozen=True)
class TypeForm:
    type: str
    label: str
    inputs: list[OptionInput]


def _default(api_field: serializers.Field) -> str:
    default = api_field.default
    if default is serializers.empty or callable(default):
        return ""
    if isinstance(default, bool):
        return "true" if default else "false"
    return str(default)


def _input(
    kind: str, name: str, api_field: serializers.Field, value: str
) -> OptionInput:
    base: dict[str, Any] = {
        "name": name,
        "input_name": f"{kind}-{name}",
        "label": str(OPTION_LABELS.get(name, name.replace("_", " ").capitalize())),
        "required": bool(api_field.required),
        "default": _default(api_field),
        "value": value,
    }
    if isinstance(api_field, serializers.BooleanField):
        choices = [
            ("true", str(CHOICE_LABELS["true"])),
            ("false", str(CHOICE_LABELS["false"])),
        ]
        return OptionInput(kind="select", choices=choices, **base)
    if isinstance(api_field, serializers.ChoiceField):
        choices = [
            (str(key), str(CHOICE_LABELS.get(str(key), label)))
            for key, label in api_field.choices.items()
        ]
        return OptionInput(kind="select", choices=choices, **base)
    if isinstance(api_field, serializers.IntegerField | serializers.FloatField):
        return OptionInput(
            kind="number",
            minimum=api_field.min_value,
            maximum=api_field.max_value,
            step="any" if isinstance(api_field, serializers.FloatField) else "1",
            **base,
        )
    if isinstance(api_field, serializers.ListField):
        return OptionInput(kind="textarea", **base)
    return OptionInput(kind="text", **base)


def studio_forms(posted: QueryDict | None = None) -> list[TypeForm]:
    """Every studio type with its option inputs (values refilled from `posted`)."""
    forms = []
    for kind in STUDIO_TYPES:
        fields = OPTIONS_SERIALIZERS[kind]().fields
        inputs = [
            _input(
                kind,
                name,
                api_field,
                posted.get(f"{kind}-{name}", "") if posted else "",
            )
            for name, api_field in fields.items()
        ]
        forms.append(TypeForm(type=kind, label=str(TYPE_LABELS[kind]), inputs=inputs))
    return forms


def _split(raw: str) -> list[str]:
    separator = "\n" if "\n" in raw else ","
    return [item.strip() for item in raw.split(separator) if item.strip()]


def studio_request_from_post(posted: QueryDict) -> dict[str, Any]:
    """The posted form as the body of `POST /api/ai/generate-content`."""
    kind = posted.get("type", "")
    body: dict[str, Any] = {"type": kind, "prompt": posted.get("prompt", "")}
    for name in ("model", "agent"):
        if posted.get(name):
            body[name] = posted[name]
    serializer_class = OPTIONS_SERIALIZERS.get(kind)
    if serializer_class is None:
        return body
    options: dict[str, Any] = {}
    for name, api_field in serializer_class().fields.items():
        raw = (posted.get(f"{kind}-{name}") or "").strip()
        if not raw:
            continue
        options[name] = (
            _split(raw) if isinstance(api_field, serializers.ListField) else raw
        )
    body["options"] = options
    depth = (posted.get("reasoning_depth") or "").strip()
    if depth and depth != "0":
        body["reasoning"] = {"depth": depth}
    return body
