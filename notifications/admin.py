from django.contrib import admin
from django.http import HttpRequest

from notifications.models import Notification, Webhook, WebhookDelivery
from tenants.admin import UnscopedAdmin


class ReadOnlyAdmin(UnscopedAdmin):
    """State changes go through the services (audit, notifications, webhooks), never the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "tenant", "user", "kind", "title", "read_at"]


@admin.register(Webhook)
class WebhookAdmin(UnscopedAdmin):
    list_display = ["url", "tenant", "is_active", "created_at"]
    exclude = ["secret"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "tenant", "event", "status", "attempts", "response_code"]
    list_filter = ["status"]
