"""REST shapes of alert rules and their incidents."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from alerts.models import WINDOW_CHOICES, AlertEvent, AlertRule, Metric, QuotaPeriod
from core.limits import max_length, max_value

_STATES = ["ok", "firing", "disabled"]


class AlertRuleSerializer(serializers.ModelSerializer):
    api: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True, help_text="The API's slug (API rules; else null)."
    )
    application: serializers.PrimaryKeyRelatedField = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="The application's id (application rules; else null)."
    )
    quota_period = serializers.ChoiceField(
        choices=QuotaPeriod.choices,
        allow_blank=True,
        read_only=True,
        help_text="Quota, token quota and cost budget use rules: day or month; empty for the other metrics.",
    )
    # A field named like Field.label (the attribute the stubs type as str).
    label = serializers.CharField(read_only=True, help_text="The name, or the target and condition.")  # type: ignore[assignment]
    condition = serializers.CharField(
        read_only=True, help_text='The rule in words, e.g. "error rate ≥ 5 % over 15 min".'
    )
    state = serializers.SerializerMethodField()

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "label",
            "scope",
            "api",
            "application",
            "metric",
            "threshold",
            "window_minutes",
            "quota_period",
            "min_calls",
            "condition",
            "email",
            "enabled",
            "state",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=_STATES))
    def get_state(self, rule: AlertRule) -> str:
        if not rule.enabled:
            return "disabled"
        return "firing" if getattr(rule, "firing", False) else "ok"


class _RuleFields(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=max_length(AlertRule, "name"))
    metric = serializers.ChoiceField(
        choices=Metric.choices,
        help_text=(
            "API rules: error_rate, p95_latency_ms, refused_calls; application rules also quota_use, "
            "token_quota_use, cost_budget_use; node_silent is for staff's platform rules."
        ),
    )
    threshold = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="In the metric's unit.")
    window_minutes = serializers.ChoiceField(choices=WINDOW_CHOICES, required=False, default=15)
    quota_period = serializers.ChoiceField(
        choices=QuotaPeriod.choices,
        required=False,
        allow_blank=True,
        help_text="quota_use, token_quota_use and cost_budget_use (application rules): day or month; required.",
    )
    min_calls = serializers.IntegerField(
        required=False, min_value=1, max_value=max_value(AlertRule, "min_calls"), default=20
    )
    email = serializers.BooleanField(required=False, default=False)
    enabled = serializers.BooleanField(required=False, default=True)


class AlertRuleCreateSerializer(_RuleFields):
    api = serializers.SlugField(required=False, help_text="Watch this API of yours (its slug) …")
    application = serializers.IntegerField(required=False, min_value=1, help_text="… or this application (its id).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("api" in attrs) == ("application" in attrs):
            raise serializers.ValidationError({"api": "Give either api (a slug) or application (an id)."})
        return attrs


class AlertRuleUpdateSerializer(_RuleFields):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False
            field.default = serializers.empty


class AlertEventSerializer(serializers.ModelSerializer):
    rule_label = serializers.CharField(source="rule.label", read_only=True)
    metric = serializers.CharField(source="rule.metric", read_only=True)
    scope = serializers.CharField(source="rule.scope", read_only=True)
    state = serializers.SerializerMethodField()

    class Meta:
        model = AlertEvent
        fields = [
            "id",
            "rule",
            "rule_label",
            "scope",
            "metric",
            "subject",
            "subject_label",
            "state",
            "fired_at",
            "fired_value",
            "resolved_at",
            "resolved_value",
            "message",
            "resolve_message",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=["firing", "resolved"]))
    def get_state(self, event: AlertEvent) -> str:
        return "firing" if event.resolved_at is None else "resolved"
