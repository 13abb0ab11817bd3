"""Serializers of the content studio: one options serializer per content type.

`GenerateContentInputSerializer` checks `{type, prompt, options, agent?, model?}`
and validates `options` with the type's serializer (unknown option names are
refused), so a bad option is a 400 with `details.fields.options.<name>`. What
depends on the model (allowed image/video sizes) is checked by the service.
"""

from django.conf import settings
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from accounts.models import Language
from ai.api.serializers import ReasoningInputSerializer
from ai.models import JobStatus, JobType

LANGUAGES = Language.choices  # the languages users can pick for themselves
NETWORKS = ("x", "linkedin", "instagram", "facebook", "tiktok")
AD_PLATFORMS = ("google", "facebook", "instagram", "linkedin", "x", "tiktok")
EMAIL_PURPOSES = (
    "newsletter",
    "promotional",
    "welcome",
    "follow_up",
    "announcement",
    "outreach",
    "other",
)
LENGTHS = ("short", "medium", "long")
AUDIO_FORMATS = ("mp3", "wav", "opus")


def _keywords() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=60), max_length=20, required=False
    )


class _Options(serializers.Serializer):
    """Refuses option names the type does not have."""

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {name: ["Unknown option for this type."] for name in unknown}
            )
        return attrs


class _TextOptions(_Options):
    tone = serializers.CharField(max_length=60, required=False)
    language = serializers.ChoiceField(LANGUAGES, required=False)
    audience = serializers.CharField(max_length=200, required=False)


class BlogPostOptionsSerializer(_TextOptions):
    title = serializers.CharField(max_length=200, required=False)
    outline = serializers.ListField(
        child=serializers.CharField(max_length=200), max_length=20, required=False
    )
    length = serializers.ChoiceField(LENGTHS, default="medium")
    keywords = _keywords()


class SocialPostOptionsSerializer(_TextOptions):
    network = serializers.ChoiceField(NETWORKS)
    count = serializers.IntegerField(min_value=1, max_value=5, default=1)
    hashtags = serializers.BooleanField(default=True)
    keywords = _keywords()


class EmailOptionsSerializer(_TextOptions):
    purpose = serializers.ChoiceField(EMAIL_PURPOSES, default="newsletter")
    subject = serializers.CharField(max_length=200, required=False)


class AdCopyOptionsSerializer(_TextOptions):
    platform = serializers.ChoiceField(AD_PLATFORMS)
    variants = serializers.IntegerField(min_value=1, max_value=5, default=3)
    keywords = _keywords()


class ProductDescriptionOptionsSerializer(_TextOptions):
    product_name = serializers.CharField(max_length=200, required=False)
    features = serializers.ListField(
        child=serializers.CharField(max_length=200), max_length=20, required=False
    )
    length = serializers.ChoiceField(LENGTHS, default="short")
    keywords = _keywords()


class VideoScriptOptionsSerializer(_TextOptions):
    duration = serializers.IntegerField(
        min_value=5, max_value=1800, default=60, help_text="Seconds."
    )
    scenes = serializers.IntegerField(min_value=1, max_value=30, default=4)


class SeoMetaOptionsSerializer(_Options):
    language = serializers.ChoiceField(LANGUAGES, required=False)
    keywords = _keywords()
    url = serializers.URLField(max_length=500, required=False)


class ImageOptionsSerializer(_Options):
    size = serializers.RegexField(
        r"^\d{2,4}x\d{2,4}$",
        required=False,
        help_text="`WxH`, one of the model's `media_sizes` (default: the first).",
    )
    count = serializers.IntegerField(min_value=1, max_value=4, default=1)
    negative_prompt = serializers.CharField(max_length=1000, required=False)
    seed = serializers.IntegerField(
        min_value=0, max_value=9_999_999_999, required=False
    )


class AudioOptionsSerializer(_Options):
    voice = serializers.RegexField(
        r"^[\w.:/-]{1,150}$",
        required=False,
        help_text="A voice of the model, e.g. `FunAudioLLM/CosyVoice2-0.5B:alex`.",
    )
    format = serializers.ChoiceField(AUDIO_FORMATS, default="mp3")
    speed = serializers.FloatField(min_value=0.25, max_value=4.0, default=1.0)


class VideoOptionsSerializer(_Options):
    size = serializers.RegexField(r"^\d{2,4}x\d{2,4}$", required=False)
    duration = serializers.IntegerField(
        min_value=1, max_value=10, default=5, help_text="Seconds."
    )
    negative_prompt = serializers.CharField(max_length=1000, required=False)
    seed = serializers.IntegerField(
        min_value=0, max_value=9_999_999_999, required=False
    )


OPTIONS_SERIALIZERS: dict[str, type[_Options]] = {
    JobType.BLOG_POST: BlogPostOptionsSerializer,
    JobType.SOCIAL_POST: SocialPostOptionsSerializer,
    JobType.EMAIL: EmailOptionsSerializer,
    JobType.AD_COPY: AdCopyOptionsSerializer,
    JobType.PRODUCT_DESCRIPTION: ProductDescriptionOptionsSerializer,
    JobType.VIDEO_SCRIPT: VideoScriptOptionsSerializer,
    JobType.SEO_META: SeoMetaOptionsSerializer,
    JobType.IMAGE: ImageOptionsSerializer,
    JobType.AUDIO: AudioOptionsSerializer,
    JobType.VIDEO: VideoOptionsSerializer,
}


@extend_schema_field(
    PolymorphicProxySerializer(
        component_name="ContentOptions",
        serializers=list(dict.fromkeys(OPTIONS_SERIALIZERS.values())),
        resource_type_field_name=None,
    )
)
class OptionsField(serializers.DictField):
    """The options of the request's `type` (one of the schemas listed)."""


class GenerateContentInputSerializer(serializers.Serializer):
    type = serializers.ChoiceField(
        [c for c in JobType.choices if c[0] != JobType.WORKFLOW]
    )
    prompt = serializers.CharField(
        trim_whitespace=True,
        help_text="The brief; for `audio`, the text to read aloud.",
    )
    options = OptionsField(required=False, default=dict)
    agent = serializers.SlugField(max_length=64, required=False, allow_blank=True)
    model = serializers.CharField(max_length=150, required=False, allow_blank=True)
    reasoning = ReasoningInputSerializer(
        required=False,
        help_text="Text types: plan → draft → critique → revise (each step metered; "
        "steps stored in `result.reasoning`).",
    )

    def get_fields(self):
        fields = super().get_fields()
        fields["prompt"] = serializers.CharField(
            max_length=settings.STUDIO_MAX_PROMPT_CHARS,
            trim_whitespace=True,
            help_text=fields["prompt"].help_text,
        )
        return fields

    def validate(self, attrs):
        kind = attrs["type"]
        if (
            kind == JobType.AUDIO
            and len(attrs["prompt"]) > settings.STUDIO_TTS_MAX_CHARS
        ):
            raise serializers.ValidationError(
                {
                    "prompt": [
                        f"Speech takes at most {settings.STUDIO_TTS_MAX_CHARS} "
                        "characters."
                    ]
                }
            )
        options = OPTIONS_SERIALIZERS[kind](data=attrs.get("options") or {})
        if not options.is_valid():
            raise serializers.ValidationError({"options": options.errors})
        attrs["options"] = dict(options.validated_data)
        return attrs


# --- output


class JobAssetSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    index = serializers.IntegerField()
    content_type = serializers.CharField()
    size_bytes = serializers.IntegerField()
    url = serializers.CharField(help_text="Signed link (inline), valid until expiry.")
    download_url = serializers.CharField(help_text="Signed link (attachment).")
    expires_at = serializers.DateTimeField()


class JobUsageSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    units = serializers.DecimalField(max_digits=14, decimal_places=3)


class JobErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class JobSerializer(serializers.Serializer):
    """What GET /api/ai/jobs/{id} answers (the list shows the same per job)."""

    id = serializers.IntegerField()
    type = serializers.ChoiceField(JobType.choices)
    status = serializers.ChoiceField(JobStatus.choices)
    progress = serializers.IntegerField(min_value=0, max_value=100)
    prompt = serializers.CharField()
    options = serializers.DictField()
    agent = serializers.CharField(allow_blank=True)
    model = serializers.CharField(allow_blank=True)
    language = serializers.CharField(allow_blank=True)
    result_text = serializers.CharField(allow_blank=True)
    result = serializers.DictField(
        help_text="Structured result: title/body, subject, variants, scenes, SEO "
        "fields, and `notes` (e.g. `regenerated_shorter`, `cut_to_limit`)."
    )
    assets = JobAssetSerializer(many=True)
    usage = JobUsageSerializer()
    cost = serializers.DecimalField(max_digits=14, decimal_places=6)
    currency = serializers.CharField()
    error = JobErrorSerializer(allow_null=True)
    reasoning_depth = serializers.IntegerField(
        help_text="0, or the ReasoningEngine rounds; the steps are in "
        "`result.reasoning.steps`."
    )
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class JobListQuerySerializer(serializers.Serializer):
    type = serializers.ChoiceField(JobType.choices, required=False)
    status = serializers.ChoiceField(JobStatus.choices, required=False)
    search = serializers.CharField(max_length=200, required=False, allow_blank=True)


class AssetLinkQuerySerializer(serializers.Serializer):
    expires = serializers.IntegerField(min_value=0)
    signature = serializers.RegexField(r"^[A-Za-z0-9_-]{1,200}$")
    download = serializers.BooleanField(required=False, default=False)
