from __future__ import annotations

from rest_framework import serializers

from core.limits import max_length
from notifications.models import WEBHOOK_EVENT_CHOICES, Notification, Webhook, WebhookDelivery


class NotificationSerializer(serializers.ModelSerializer):
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "url", "created_at", "read_at", "read"]
        read_only_fields = fields

    def get_read(self, notification: Notification) -> bool:
        return notification.read_at is not None


class UnreadCountSerializer(serializers.Serializer):
    unread = serializers.IntegerField()


class MarkedSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many notifications were marked read.")


class WebhookSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=WEBHOOK_EVENT_CHOICES), min_length=1)

    class Meta:
        model = Webhook
        fields = ["id", "url", "events", "description", "is_active", "created_at"]
        read_only_fields = ["id", "created_at"]


class WebhookCreateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=max_length(Webhook, "url"))
    events = serializers.ListField(child=serializers.ChoiceField(choices=WEBHOOK_EVENT_CHOICES), min_length=1)
    secret = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=max_length(Webhook, "secret"),
        help_text="Leave empty to have one generated.",
    )
    description = serializers.CharField(required=False, allow_blank=True, max_length=max_length(Webhook, "description"))


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(read_only=True, help_text="The signing secret. Shown only in this response.")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookUpdateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=max_length(Webhook, "url"), required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WEBHOOK_EVENT_CHOICES), min_length=1, required=False
    )
    description = serializers.CharField(required=False, allow_blank=True, max_length=max_length(Webhook, "description"))
    is_active = serializers.BooleanField(required=False)


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "delivery_id",
            "event",
            "status",
            "attempts",
            "response_code",
            "response_body",
            "error",
            "duration_ms",
            "created_at",
            "last_attempt_at",
            "next_attempt_at",
            "payload",
        ]
        read_only_fields = fields
