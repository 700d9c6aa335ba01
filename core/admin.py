from django.contrib import admin
from django.http import HttpRequest

from core.models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """Read-only: where operators see failed side effects (``last_error``) after an incident.

    The payload is not shown: a pending mail may hold a sign-in or invitation link.
    """

    list_display = ["created_at", "kind", "status", "attempts", "next_attempt_at", "sent_at", "last_error"]
    list_filter = ["status", "kind"]
    search_fields = ["delivery_id"]
    exclude = ["payload"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
