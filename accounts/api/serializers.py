"""Input and output serializers of the accounts API (one pair per operation)."""

import zoneinfo

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import ApiKey, Language, User
from usage.serializers import QuotaStateSerializer

_TIMEZONES = frozenset(zoneinfo.available_timezones())


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 500,
        "anyOf": [{"format": "uri"}, {"maxLength": 0}],
        "description": "An http(s) URL, or an empty string for none.",
    }
)
class BlankableURLField(serializers.CharField):
    """A URL or `""`, and the schema says so (a URLField alone is `format: uri`)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value:
            try:
                URLValidator()(value)
            except DjangoValidationError:
                raise serializers.ValidationError("Enter a valid URL.") from None
        return value


# --- Inputs ---


class RegisterInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=256, trim_whitespace=False)
    name = serializers.CharField(max_length=150, required=False, allow_blank=True)


class LoginInput(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class RefreshInput(serializers.Serializer):
    refresh = serializers.CharField(max_length=4096)


class ProfileInput(serializers.Serializer):
    """PUT and PATCH both send any subset; the fields sent are updated."""

    name = serializers.CharField(max_length=150, allow_blank=True)
    company = serializers.CharField(max_length=150, allow_blank=True)
    timezone = serializers.CharField(max_length=64)
    language = serializers.ChoiceField(choices=Language.choices)
    avatar_url = BlankableURLField(max_length=500, allow_blank=True)
    brand_voice = serializers.CharField(
        max_length=5000, allow_blank=True, trim_whitespace=False
    )
    bio = serializers.CharField(max_length=5000, allow_blank=True)

    def validate_timezone(self, value: str) -> str:
        if value not in _TIMEZONES:
            raise serializers.ValidationError("Unknown time zone.")
        return value


class ChangePasswordInput(serializers.Serializer):
    current_password = serializers.CharField(max_length=256, trim_whitespace=False)
    new_password = serializers.CharField(max_length=256, trim_whitespace=False)


class ForgotPasswordInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class ResetPasswordInput(serializers.Serializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)
    new_password = serializers.CharField(max_length=256, trim_whitespace=False)


class ApiKeyCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


# --- Outputs ---


class UserOutput(serializers.ModelSerializer):
    avatar_url = BlankableURLField(read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "name",
            "company",
            "timezone",
            "language",
            "avatar_url",
            "brand_voice",
            "bio",
            "date_joined",
        ]
        read_only_fields = fields


class TokenPairOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    token_type = serializers.CharField(default="Bearer")
    access_expires_in = serializers.IntegerField(help_text="Seconds.")


class AuthOutput(TokenPairOutput):
    user = UserOutput()


class MePlanOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    price = serializers.DecimalField(max_digits=10, decimal_places=2)
    currency = serializers.CharField()
    interval = serializers.CharField()
    is_free = serializers.BooleanField()
    requests_per_day = serializers.IntegerField(allow_null=True)
    tokens_per_day = serializers.IntegerField(allow_null=True)
    features = serializers.ListField(child=serializers.CharField())


class MeOutput(serializers.Serializer):
    user = UserOutput()
    role = serializers.ChoiceField(choices=["admin", "premium", "user"])
    plan = MePlanOutput()
    quota = QuotaStateSerializer()


class DetailOutput(serializers.Serializer):
    detail = serializers.CharField()


class ApiKeyOutput(serializers.ModelSerializer):
    prefix = serializers.SerializerMethodField()
    is_active = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "is_active",
        ]
        read_only_fields = fields

    def get_prefix(self, obj: ApiKey) -> str:
        return f"fmk_{obj.prefix}"

    def get_is_active(self, obj: ApiKey) -> bool:
        now = self.context["now"]
        return obj.revoked_at is None and (
            obj.expires_at is None or obj.expires_at > now
        )


class ApiKeyCreatedOutput(ApiKeyOutput):
    key = serializers.CharField(help_text="The full key. Shown this once only.")

    class Meta(ApiKeyOutput.Meta):
        fields = [*ApiKeyOutput.Meta.fields, "key"]
        read_only_fields = fields


class ApiKeyPageOutput(serializers.Serializer):
    """The paginated `{count, next, previous, results}` envelope of the key list."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ApiKeyOutput(many=True)
