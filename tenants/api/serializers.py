from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from core.limits import max_length
from tenants.models import Invitation, Membership, PersonalAccessToken, SuspensionEvent, Tenant, TokenScope, User
from tenants.roles import Role


class TenantSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="Your role in this organisation.")

    class Meta:
        model = Tenant
        fields = ["slug", "name", "created_at", "role", "suspended_at", "suspension_reason"]
        read_only_fields = ["slug", "created_at", "role", "suspended_at", "suspension_reason"]
        extra_kwargs = {
            "suspended_at": {"help_text": "Set while platform staff suspend the organisation: writes answer 403."},
            "suspension_reason": {"help_text": "Why it is suspended (empty when it is not)."},
        }

    def get_role(self, tenant: Tenant) -> str | None:
        roles: dict[int, str] = self.context.get("roles", {})
        return roles.get(tenant.pk)


@extend_schema_serializer(many=False)  # already the page envelope: not to be wrapped in an array
class PaginatedTenantListSerializer(serializers.Serializer):
    """The tenant list has the same page envelope as every other list (one page: a user has few)."""

    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = TenantSerializer(many=True)


class TenantCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=max_length(Tenant, "name"))
    slug = serializers.SlugField(
        max_length=max_length(Tenant, "slug"), help_text="Lowercase letters, digits, hyphens; unique."
    )


class TenantUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=max_length(Tenant, "name"))


class MembershipBriefSerializer(serializers.Serializer):
    tenant = serializers.CharField(source="tenant.slug")
    tenant_name = serializers.CharField(source="tenant.name")
    role = serializers.ChoiceField(choices=Role.choices)


class MeSerializer(serializers.ModelSerializer):
    memberships = MembershipBriefSerializer(many=True, read_only=True)

    class Meta:
        model = User
        fields = ["id", "email", "name", "is_staff", "date_joined", "memberships"]
        read_only_fields = ["id", "email", "is_staff", "date_joined", "memberships"]


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.name", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "name", "role", "created_at"]
        read_only_fields = fields


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.ModelSerializer):
    tenant = serializers.CharField(source="tenant.slug", read_only=True)
    invited_by = serializers.EmailField(source="invited_by.email", read_only=True, default=None)
    status = serializers.CharField(read_only=True)

    class Meta:
        model = Invitation
        fields = ["id", "tenant", "email", "role", "status", "invited_by", "created_at", "expires_at", "sent_count"]
        read_only_fields = fields


class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices, default=Role.DEVELOPER)


class InvitationAcceptSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The token from the invitation link (/invitations/<token>/).")


class TokenSerializer(serializers.ModelSerializer):
    user = serializers.EmailField(source="user.email", read_only=True)
    status = serializers.CharField(read_only=True)

    class Meta:
        model = PersonalAccessToken
        fields = [
            "id",
            "name",
            "scope",
            "key_id",
            "user",
            "status",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = fields


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=max_length(PersonalAccessToken, "name"))
    scope = serializers.ChoiceField(
        choices=TokenScope.choices,
        default=TokenScope.WRITE,
        help_text="`read`: GET/HEAD/OPTIONS only; `write` (default): everything your role allows.",
    )
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Optional; never expires if empty."
    )


class TokenCreatedSerializer(TokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The full token. Shown only in this response.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


# --- Platform staff ------------------------------------------------------------------


class PlatformTenantSerializer(serializers.ModelSerializer):
    member_count = serializers.IntegerField(read_only=True)
    suspended_by: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="email", read_only=True, help_text="The staff member who suspended it."
    )

    class Meta:
        model = Tenant
        fields = ["slug", "name", "created_at", "member_count", "suspended_at", "suspension_reason", "suspended_by"]
        read_only_fields = fields


class TenantSuspendSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=max_length(Tenant, "suspension_reason"),
        help_text="Shown to the members on every page and in the 403 of every write; e-mailed to the owners.",
    )


class TenantUnsuspendSerializer(serializers.Serializer):
    note = serializers.CharField(
        max_length=max_length(SuspensionEvent, "reason"),
        required=False,
        allow_blank=True,
        default="",
        help_text="Kept in the trail.",
    )
