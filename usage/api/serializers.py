"""Input and output serializers of the usage API."""

from datetime import timedelta

from django.conf import settings
from rest_framework import serializers

from usage.daily_limits import utc_today
from usage.selectors import GROUP_BY_FIELDS
from usage.serializers import QuotaStateSerializer


class UsageQuerySerializer(serializers.Serializer):
    """`?from=&to=&group_by=&user_id=` (dates are UTC days, both inclusive)."""

    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    group_by = serializers.ChoiceField(
        choices=sorted(GROUP_BY_FIELDS), required=False, default="day"
    )
    user_id = serializers.IntegerField(required=False, min_value=1)

    def to_internal_value(self, data):
        data = data.copy()
        for public, internal in (("from", "date_from"), ("to", "date_to")):
            if public in data:
                data[internal] = data.pop(public)
                if isinstance(data[internal], list):
                    data[internal] = data[internal][0]
        return super().to_internal_value(data)

    def validate(self, attrs):
        date_to = attrs.get("date_to") or utc_today()
        if attrs.get("date_from") is not None:
            date_from = attrs["date_from"]
        else:
            try:
                date_from = date_to - timedelta(days=29)
            except OverflowError:
                raise serializers.ValidationError(
                    {"to": "Too early: the default range would start before year 1."}
                ) from None
        if date_from > date_to:
            raise serializers.ValidationError({"from": "Must not be after `to`."})
        max_days = settings.USAGE_MAX_RANGE_DAYS
        if (date_to - date_from).days >= max_days:
            raise serializers.ValidationError(
                {"from": f"The range may span at most {max_days} days."}
            )
        attrs["date_from"], attrs["date_to"] = date_from, date_to
        return attrs


class UserQuerySerializer(serializers.Serializer):
    user_id = serializers.IntegerField(required=False, min_value=1)


class UsageTotalsSerializer(serializers.Serializer):
    currency = serializers.CharField()
    requests = serializers.IntegerField()
    failed_requests = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=16, decimal_places=6)


class UsageGroupSerializer(UsageTotalsSerializer):
    key = serializers.CharField(help_text="The day (YYYY-MM-DD), model or endpoint.")


class UsageReportSerializer(serializers.Serializer):
    """A user's usage over a range of UTC days."""

    # `from` is a Python keyword, so the fields are declared here.
    def get_fields(self):
        return {
            "user_id": serializers.IntegerField(),
            "from": serializers.DateField(source="date_from"),
            "to": serializers.DateField(source="date_to"),
            "group_by": serializers.CharField(),
            "results": UsageGroupSerializer(many=True),
            "totals": UsageTotalsSerializer(
                many=True, help_text="Over the whole range, one row per currency."
            ),
        }


class UsageTodaySerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    day = serializers.DateField()
    quota = QuotaStateSerializer()
    totals = UsageTotalsSerializer(many=True)
