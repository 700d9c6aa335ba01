from django.contrib import admin

from subscriptions.models import ApiKey, Application, Subscription, SubscriptionEvent
from tenants.admin import ReadOnlyAdmin, UnscopedAdmin


@admin.register(Application)
class ApplicationAdmin(UnscopedAdmin):
    list_display = ["name", "tenant", "contact_email", "created_at"]
    search_fields = ["name", "tenant__slug"]


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ["id", "application", "consumer_tenant", "provider_tenant", "api", "plan", "status", "created_at"]
    list_filter = ["status"]


@admin.register(SubscriptionEvent)
class SubscriptionEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "subscription", "actor_email", "action", "from_state", "to_state"]


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    list_display = ["name", "key_id", "application", "tenant", "created_at", "expires_at", "revoked_at"]
    search_fields = ["key_id", "name"]
    # The hash is useless to staff and should not be copied around.
    exclude = ["key_hash"]
    readonly_fields = ["key_id"]
