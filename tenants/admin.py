from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from tenants.models import Invitation, Membership, PersonalAccessToken, SuspensionEvent, Tenant, User


class UnscopedAdmin(admin.ModelAdmin):
    """Platform staff cross tenants on purpose here."""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.model.objects.unscoped()


@admin.register(User)
class ReadOnlyAdmin(UnscopedAdmin):
    """History and state that only the services change (audit, notifications, webhooks): staff
    read it in the admin, never add, edit or delete it there."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "name"]
    fieldsets = [
        (None, {"fields": ["email", "password", "name"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


class SuspendedFilter(admin.SimpleListFilter):
    title = "suspended"
    parameter_name = "suspended"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Suspended"), ("no", "Active")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in {"yes", "no"}:
            return queryset.filter(suspended_at__isnull=self.value() == "no")
        return queryset


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at", "suspended_at"]
    list_filter = [SuspendedFilter]
    search_fields = ["name", "slug"]
    # Suspending goes through the staff page or REST (reason, trail, owners e-mailed, gateway
    # config): never by editing the columns here.
    readonly_fields = ["suspended_at", "suspension_reason", "suspended_by"]


@admin.register(SuspensionEvent)
class SuspensionEventAdmin(ReadOnlyAdmin):
    """The suspension trail is append-only."""

    list_display = ["created_at", "tenant", "action", "actor_email", "reason"]
    list_filter = ["action"]
    search_fields = ["tenant__slug", "tenant__name", "actor_email"]


@admin.register(Membership)
class MembershipAdmin(UnscopedAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role"]


@admin.register(Invitation)
class InvitationAdmin(UnscopedAdmin):
    list_display = ["email", "tenant", "role", "created_at", "expires_at", "accepted_at", "revoked_at"]
    exclude = ["token_hash"]


@admin.register(PersonalAccessToken)
class PersonalAccessTokenAdmin(UnscopedAdmin):
    list_display = ["name", "key_id", "user", "tenant", "created_at", "last_used_at", "revoked_at"]
    exclude = ["token_hash"]
