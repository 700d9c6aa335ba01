"""The catalog in the Django admin: look things up across providers; changes go through the portal.

Editing is off: the services render and sanitise Markdown, refresh the search vector, check
upstream URLs against the outbound policy and write the audit trail, none of which the admin
would do. Deleting follows the portal's rule (``*_delete_refusal``): whatever another tenant
depends on (subscription history, live versions) is refused, and the bulk "delete selected"
action, which would bypass that per-object check, is removed.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apis.models import Api, ApiVersion, AuditEvent, Plan
from apis.services import api_delete_refusal, plan_delete_refusal, version_delete_refusal
from tenants.admin import ReadOnlyAdmin, UnscopedAdmin


class CatalogAdmin(UnscopedAdmin):
    """Read-only, with deletion only where the portal would allow it."""

    refusal: Any = None  # the module's ``*_delete_refusal``

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not super().has_delete_permission(request, obj):
            return False
        return obj is None or type(self).refusal(obj) is None


@admin.register(Api)
class ApiAdmin(CatalogAdmin):
    refusal = staticmethod(api_delete_refusal)
    list_display = ["name", "slug", "tenant", "visibility", "created_at", "updated_at"]
    list_filter = ["visibility", "created_at"]
    search_fields = ["name", "slug", "summary", "tenant__slug", "tenant__name"]
    list_select_related = ["tenant"]
    exclude = ["search_vector", "description_html"]


@admin.register(ApiVersion)
class ApiVersionAdmin(CatalogAdmin):
    refusal = staticmethod(version_delete_refusal)
    list_display = ["__str__", "base_path", "tenant", "status", "spec_status", "published_at", "sunset_date"]
    list_filter = ["status", "spec_status"]
    search_fields = ["label", "base_path", "api__name", "api__slug", "tenant__slug"]
    list_select_related = ["api", "tenant"]
    # The document and a pending upload can be megabytes: not rendered into the admin page.
    exclude = ["spec", "spec_pending", "release_notes_html"]


@admin.register(Plan)
class PlanAdmin(CatalogAdmin):
    refusal = staticmethod(plan_delete_refusal)
    list_display = [
        "name",
        "api",
        "tenant",
        "status",
        "is_public",
        "approval_required",
        "rate_limit_per_minute",
        "quota_per_month",
        "price_label",
    ]
    list_filter = ["status", "is_public", "approval_required"]
    search_fields = ["name", "api__name", "api__slug", "tenant__slug"]
    list_select_related = ["api", "tenant"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The trail is append-only."""

    list_display = ["created_at", "tenant", "actor_email", "action", "target_label", "from_state", "to_state"]
    list_filter = ["action", "target_type"]
    search_fields = ["actor_email", "target_label", "tenant__slug", "note"]
    list_select_related = ["tenant"]
