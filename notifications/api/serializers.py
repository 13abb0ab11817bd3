"""Input and output serializers of the notifications API."""

from rest_framework import serializers

from notifications.models import Notification, NotificationKind
from notifications.selectors import notification_is_read


class NotificationListInput(serializers.Serializer):
    since = serializers.DateTimeField(
        required=False,
        help_text="ISO 8601; only notifications created after it, oldest first.",
    )
    unread = serializers.BooleanField(required=False, default=False)


class NotificationOutput(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=NotificationKind.choices)
    read = serializers.SerializerMethodField()
    broadcast = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = [
            "id",
            "kind",
            "title",
            "body",
            "data",
            "read",
            "broadcast",
            "created_at",
        ]

    def get_read(self, obj: Notification) -> bool:
        return notification_is_read(obj)

    def get_broadcast(self, obj: Notification) -> bool:
        return obj.user_id is None


class NotificationReadInput(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=500,
    )
    all = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        if not attrs.get("all") and not attrs.get("ids"):
            raise serializers.ValidationError('Send "ids": [...] or "all": true.')
        return attrs


class NotificationReadOutput(serializers.Serializer):
    marked = serializers.IntegerField(help_text="Notifications newly marked read.")
