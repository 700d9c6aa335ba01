from __future__ import annotations

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from rest_framework import serializers

from apis.models import ApiVersion, Plan
from core.limits import max_length, max_value, min_value
from subscriptions.models import (
    MAX_KEY_CIDRS,
    ApiKey,
    Application,
    KeyStatus,
    Subscription,
    SubscriptionEvent,
    SubscriptionStatus,
)
from subscriptions.services import DENY_REASONS
from subscriptions.services.verification import MAX_REQUEST_PATH
from tenants.models import Tenant, User

#: The longest list a restriction field takes in one request (the service's own limits are lower).
MAX_RESTRICTION_ITEMS = 500


class ApplicationSerializer(serializers.ModelSerializer):
    created_by = serializers.EmailField(source="created_by.email", read_only=True, default=None)

    class Meta:
        model = Application
        fields = ["id", "name", "description", "contact_email", "created_by", "created_at"]
        read_only_fields = ["id", "created_by", "created_at"]
        # Uniqueness is checked by the service (scoped managers do not mix with validators).
        validators: list = []


class ApplicationUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=max_length(Application, "name"), required=False)
    description = serializers.CharField(
        max_length=max_length(Application, "description"), required=False, allow_blank=True
    )
    contact_email = serializers.EmailField(
        max_length=max_length(Application, "contact_email"), required=False, allow_blank=True
    )


class PlanBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    rate_limit_per_second = serializers.IntegerField(allow_null=True)
    rate_limit_per_minute = serializers.IntegerField(allow_null=True)
    quota_per_day = serializers.IntegerField(allow_null=True)
    quota_per_month = serializers.IntegerField(allow_null=True)
    approval_required = serializers.BooleanField()


#: The plan columns PlanBriefSerializer reads.
PLAN_BRIEF_FIELDS = [
    "id",
    "name",
    "rate_limit_per_second",
    "rate_limit_per_minute",
    "quota_per_day",
    "quota_per_month",
    "approval_required",
]


#: The subscription's own columns the serializer reads (its foreign keys included).
SUBSCRIPTION_COLUMNS = [
    "id",
    "status",
    "use_case",
    "reason",
    "awaiting_since",
    "created_at",
    "decided_at",
    "ended_at",
    "consumer_tenant",
    "provider_tenant",
    "application",
    "api",
    "version",
    "plan",
    "requested_plan",
    "requested_by",
]


class SubscriptionSerializer(serializers.ModelSerializer):
    consumer = serializers.CharField(source="consumer_tenant.slug", read_only=True)
    provider = serializers.CharField(source="provider_tenant.slug", read_only=True)
    application_name = serializers.CharField(source="application.name", read_only=True)
    api_name = serializers.CharField(source="api.name", read_only=True)
    version_label = serializers.CharField(source="version.label", read_only=True)
    plan = PlanBriefSerializer(read_only=True)
    requested_plan = PlanBriefSerializer(read_only=True, allow_null=True)
    requested_by = serializers.EmailField(source="requested_by.email", read_only=True, default=None)
    request_kind = serializers.ChoiceField(
        choices=["subscription", "plan_change"],
        read_only=True,
        allow_null=True,
        help_text="What waits for the provider's decision, if anything.",
    )

    class Meta:
        model = Subscription
        fields = [
            "id",
            "status",
            "consumer",
            "provider",
            "application",
            "application_name",
            "api",
            "api_name",
            "version",
            "version_label",
            "plan",
            "requested_plan",
            "request_kind",
            "use_case",
            "reason",
            "requested_by",
            "awaiting_since",
            "created_at",
            "decided_at",
            "ended_at",
        ]
        read_only_fields = fields

    @staticmethod
    def eager(queryset: QuerySet[Subscription]) -> QuerySet[Subscription]:
        """What the serializer reads, without the nine-table join of ``select_related`` on every FK.

        The planner's search over join orders grows exponentially with the number of tables: at
        the real size the nine-table join spent 30–170 ms *planning* each list request, far
        longer than running it. Here the four always-present relations are joined (a five-table
        join plans in well under a millisecond) with only the columns shown, and the two tenants,
        the requested plan and the requester come by primary key (``WHERE id IN (…)``, skipped
        when every value is empty). The number of queries does not grow with the page.
        """
        shown = [f"plan__{name}" for name in PLAN_BRIEF_FIELDS]
        # The related rows belong to subscriptions already narrowed to the caller: unscoped is safe.
        return (
            queryset.select_related(None)
            .select_related("application", "api", "version", "plan")
            .only(*SUBSCRIPTION_COLUMNS, "application__name", "api__name", "version__label", *shown)
            .prefetch_related(
                Prefetch("consumer_tenant", Tenant.objects.only("id", "slug")),
                Prefetch("provider_tenant", Tenant.objects.only("id", "slug")),
                Prefetch("requested_plan", Plan.objects.unscoped().only(*PLAN_BRIEF_FIELDS)),
                Prefetch("requested_by", User.objects.only("id", "email")),
            )
        )


class SubscriptionRequestSerializer(serializers.Serializer):
    application = serializers.IntegerField(help_text="Id of one of your applications.")
    plan = serializers.IntegerField(help_text="Id of an active, public plan.")
    version = serializers.IntegerField(
        required=False, allow_null=True, help_text="API version id; default: the newest published version."
    )
    use_case = serializers.CharField(required=False, allow_blank=True, max_length=max_length(Subscription, "use_case"))


class PlanChangeSerializer(serializers.Serializer):
    plan = serializers.IntegerField(help_text="Another plan of the same API.")
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=max_length(Subscription, "plan_change_note")
    )


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=max_length(Subscription, "reason"))


class RequiredReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=max_length(Subscription, "reason"), help_text="Shown to the consumer.")


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=max_length(SubscriptionEvent, "note"))


class BulkDecisionSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(), min_length=1, max_length=200)
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    reason = serializers.CharField(required=False, allow_blank=True, max_length=max_length(Subscription, "reason"))


class BulkDecisionResultSerializer(serializers.Serializer):
    decided = SubscriptionSerializer(many=True)
    skipped = serializers.DictField(child=serializers.CharField(), help_text="Request id → why it was skipped.")


class SubscriptionEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_email", read_only=True)

    class Meta:
        model = SubscriptionEvent
        fields = ["id", "created_at", "actor", "action", "from_state", "to_state", "note"]
        read_only_fields = fields


class KeySerializer(serializers.ModelSerializer):
    application_name = serializers.CharField(source="application.name", read_only=True)
    created_by = serializers.EmailField(source="created_by.email", read_only=True, default=None)
    status = serializers.ChoiceField(choices=KeyStatus.choices, read_only=True)
    replaced_by: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="key_id", read_only=True)
    allowed_cidrs = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Client IP ranges (CIDR, IPv4 or IPv6) the key may be used from; empty: anywhere.",
    )
    allowed_apis: serializers.PrimaryKeyRelatedField = serializers.PrimaryKeyRelatedField(
        many=True,
        read_only=True,
        help_text="Ids of the APIs the key may call (among its application's subscriptions); empty: all of them.",
    )
    rate_limit_per_minute = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The key's own limit (calls a minute); null: only the plan's."
    )

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "key_id",
            "application",
            "application_name",
            "status",
            "created_by",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "rotated_at",
            "replaced_by",
            "allowed_cidrs",
            "allowed_apis",
            "rate_limit_per_minute",
        ]
        read_only_fields = fields


KEY_LIST_COLUMNS = [
    *(
        f
        for f in KeySerializer.Meta.fields
        if f not in ("application_name", "status", "created_by", "replaced_by", "allowed_apis")
    ),
    "tenant_id",
    "application__name",
    "created_by",
    "created_by__email",
    "replaced_by",
    "replaced_by__key_id",
]
"""The columns a key list reads: not the key's hash, the application's description or the users' rows."""


class KeyRestrictionsSerializer(serializers.Serializer):
    """A key's restrictions (docs/subscriptions.md, "Key restrictions"); in a PATCH, a field left out is unchanged."""

    allowed_cidrs = serializers.ListField(
        child=serializers.CharField(max_length=max_length(ApiKey, "allowed_cidrs")),
        required=False,
        max_length=MAX_RESTRICTION_ITEMS,
        help_text=f"Client IP ranges in CIDR notation (IPv4 or IPv6; a bare address is one address). Duplicates "
        f"are dropped; at most {MAX_KEY_CIDRS}; a range with host bits set (10.1.2.3/8) is refused. Empty: anywhere.",
    )
    allowed_apis = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=MAX_RESTRICTION_ITEMS,
        help_text="Ids of APIs the key may call, each with an approved subscription of the key's application. "
        "Empty: every API the application subscribes to.",
    )
    rate_limit_per_minute = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=min_value(ApiKey, "rate_limit_per_minute"),
        max_value=max_value(ApiKey, "rate_limit_per_minute"),
        help_text="The key's own limit in calls a minute, below the per-minute limit of its plans that have one. "
        "Null: the plans' limits only.",
    )


class KeyCreateSerializer(KeyRestrictionsSerializer):
    application = serializers.IntegerField(help_text="Id of one of your applications.")
    name = serializers.CharField(max_length=max_length(ApiKey, "name"))
    expires_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Optional; never if empty.")


class KeyCreatedSerializer(KeySerializer):
    key = serializers.CharField(read_only=True, help_text="The full API key. Shown only in this response.")

    class Meta(KeySerializer.Meta):
        fields = [*KeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class KeyRotateSerializer(serializers.Serializer):
    grace_hours = serializers.IntegerField(
        min_value=0,
        max_value=settings.MAX_KEY_ROTATION_GRACE_HOURS,
        default=0,
        help_text="How long the old key keeps working (0 = it stops now).",
    )
    name = serializers.CharField(
        required=False, allow_blank=True, max_length=max_length(ApiKey, "name"), help_text="Default: the old name."
    )


class VerifySerializer(serializers.Serializer):
    key = serializers.CharField(max_length=200, help_text="The key as presented by the caller.")
    path = serializers.CharField(
        required=False,
        max_length=MAX_REQUEST_PATH,
        help_text="The full request path, e.g. /acme/orders/v1/orders/7: the version with the longest "
        "base path that is a prefix of it (on a segment boundary) serves it.",
    )
    base_path = serializers.CharField(
        required=False,
        max_length=max_length(ApiVersion, "base_path"),
        help_text="Older form: the exact base path of the API version, e.g. /acme/orders/v1.",
    )

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("path") and not attrs.get("base_path"):
            raise serializers.ValidationError({"path": ["Give the request path (or a base path)."]})
        return attrs


class VerdictSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    reason = serializers.ChoiceField(choices=list(DENY_REASONS), allow_null=True)
    key_id = serializers.CharField(allow_null=True)
    application_id = serializers.IntegerField(allow_null=True)
    consumer_tenant_id = serializers.IntegerField(allow_null=True)
    subscription_id = serializers.IntegerField(allow_null=True)
    api_id = serializers.IntegerField(allow_null=True)
    api_version_id = serializers.IntegerField(allow_null=True)
    plan_id = serializers.IntegerField(allow_null=True)
    limits = serializers.DictField(child=serializers.IntegerField(allow_null=True))


STATUS_CHOICES = SubscriptionStatus.values
