"""Query parameters (validated strictly: a bad value is a 400 in the error shape) and answers."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from analytics import selectors
from core.filters import MAX_ID
from core.limits import max_length
from gateways.models import CallRecord

#: An opaque cursor is ~100 characters; anything much longer is not one of ours.
MAX_CURSOR_LENGTH = 500
#: HTTP status codes a gateway can record.
FIRST_STATUS, LAST_STATUS = 100, 599
#: status_class: 1 (1xx) … 5 (5xx).
LAST_STATUS_CLASS = 5

SIDES = [("provider", "Calls to your APIs"), ("consumer", "Calls made by your applications")]


def _id(help_text: str) -> serializers.IntegerField:
    return serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID, help_text=help_text)


class _FromTo(serializers.Serializer):
    """Adds ``from`` / ``to`` (Python keywords, hence added in ``get_fields``)."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField(required=False, help_text="Start (ISO 8601, UTC if no offset).")
        fields["to"] = serializers.DateTimeField(required=False, help_text="End, exclusive (ISO 8601).")
        return fields


class WindowQuery(_FromTo):
    range = serializers.ChoiceField(
        choices=["1h", "24h", "7d", "30d", "custom"],
        default="24h",
        help_text="Preset window, or custom with from/to. Granularity follows the span: minute rollups up "
        "to 24 h, hour rollups up to 14 days, day rollups beyond.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["window"] = selectors.window_for(attrs["range"], start=attrs.get("from"), end=attrs.get("to"))
        return attrs


class ScopeFields(serializers.Serializer):
    side = serializers.ChoiceField(choices=SIDES, default="provider", help_text="Whose calls: provider or consumer.")
    api = _id("Only this API (provider: yours; consumer: one you subscribe to).")
    version = _id("Only this API version (id).")
    application = _id("Only this application (consumer: yours; provider: one subscribed to your APIs).")
    key = _id("Only this API key (id).")


class AnalyticsQuery(WindowQuery, ScopeFields):
    pass


class TopQuery(AnalyticsQuery):
    by = serializers.ChoiceField(choices=list(selectors.DIMENSIONS), default="endpoints", help_text="Dimension.")
    limit = serializers.IntegerField(required=False, default=10, min_value=1, max_value=selectors.MAX_TOP)


class CallQuery(_FromTo, ScopeFields):
    status = serializers.IntegerField(required=False, min_value=FIRST_STATUS, max_value=LAST_STATUS)
    status_class = serializers.IntegerField(
        required=False, min_value=1, max_value=LAST_STATUS_CLASS, help_text="e.g. 5 for 5xx."
    )
    path = serializers.CharField(
        required=False, max_length=max_length(CallRecord, "path"), help_text="Path prefix.", allow_blank=True
    )
    request_id = serializers.UUIDField(required=False)
    error = serializers.CharField(
        required=False, max_length=max_length(CallRecord, "error"), allow_blank=True, help_text="Refusal reason."
    )
    cursor = serializers.CharField(
        required=False, max_length=MAX_CURSOR_LENGTH, allow_blank=True, help_text="next_cursor of a page."
    )
    page_size = serializers.IntegerField(
        required=False, default=selectors.PAGE_SIZE, min_value=1, max_value=selectors.MAX_PAGE_SIZE
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["filter"] = selectors.call_filter(
            start=attrs.get("from"),
            end=attrs.get("to"),
            status=attrs.get("status"),
            status_class=attrs.get("status_class"),
            path=attrs.get("path", ""),
            request_id=attrs.get("request_id"),
            error=attrs.get("error", ""),
        )
        return attrs


class CallSideQuery(ScopeFields):
    pass


# --- Answers -----------------------------------------------------------------------------


class StatsSerializer(serializers.Serializer):
    calls = serializers.IntegerField()
    errors_4xx = serializers.IntegerField()
    errors_5xx = serializers.IntegerField()
    refused = serializers.IntegerField(help_text="Calls the gateway refused (rate_limited, quota_exceeded…).")
    error_rate = serializers.FloatField(allow_null=True, help_text="(4xx + 5xx) / calls.")
    avg_ms = serializers.FloatField(allow_null=True)
    p50_ms = serializers.FloatField(allow_null=True, help_text="Upper bound of the histogram bucket.")
    p95_ms = serializers.FloatField(allow_null=True)
    p99_ms = serializers.FloatField(allow_null=True)
    request_bytes = serializers.IntegerField()
    response_bytes = serializers.IntegerField()


class PointSerializer(StatsSerializer):
    t = serializers.DateTimeField(help_text="Start of the bucket.")


class WindowSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    level = serializers.CharField(help_text="Rollup level read: minute, hour or day.")
    step_seconds = serializers.SerializerMethodField()

    def get_step_seconds(self, window: selectors.Window) -> int:
        return int(window.step.total_seconds())


class TimeseriesSerializer(serializers.Serializer):
    window = WindowSerializer()
    totals = StatsSerializer()
    points = PointSerializer(many=True)


class TopItemSerializer(StatsSerializer):
    key = serializers.DictField(help_text="The dimension's columns, e.g. {api_id, endpoint}.")
    label = serializers.CharField()  # type: ignore[assignment]


class TopSerializer(serializers.Serializer):
    window = WindowSerializer()
    by = serializers.CharField()
    items = TopItemSerializer(many=True)


class ComparisonSerializer(serializers.Serializer):
    calls = serializers.IntegerField()
    previous_calls = serializers.IntegerField()
    calls_change = serializers.FloatField(allow_null=True, help_text="Relative: 0.5 = +50 %.")
    error_rate = serializers.FloatField(allow_null=True)
    previous_error_rate = serializers.FloatField(allow_null=True)
    error_rate_change = serializers.FloatField(allow_null=True, help_text="In points: 0.01 = +1 point.")
    p95_ms = serializers.FloatField(allow_null=True)
    previous_p95_ms = serializers.FloatField(allow_null=True)
    p95_change = serializers.FloatField(allow_null=True, help_text="Relative.")


class TrendChangeSerializer(ComparisonSerializer):
    key = serializers.DictField()
    label = serializers.CharField()  # type: ignore[assignment]
    score = serializers.FloatField()
    highlight = serializers.BooleanField()


class TrendsSerializer(serializers.Serializer):
    window = WindowSerializer()
    previous_start = serializers.DateTimeField()
    previous_end = serializers.DateTimeField()
    by = serializers.ChoiceField(
        choices=["endpoints", "apis"],
        help_text="What `changes` compares: endpoints; APIs for the whole platform (choose an API for its endpoints).",
    )
    current = ComparisonSerializer()
    changes = TrendChangeSerializer(
        many=True, help_text="The groups whose p95 or error rate changed most, biggest change first."
    )


class AiStatsSerializer(serializers.Serializer):
    calls = serializers.IntegerField(help_text="AI calls (a route asked for, or a model that answered).")
    # A declared field is popped from the class attributes (DRF's metaclass): the name does not
    # shadow Serializer.errors at run time, only for the type checker.
    errors = serializers.IntegerField(  # type: ignore[assignment]
        help_text="Calls with status >= 400 or refused by the gateway."
    )
    error_rate = serializers.FloatField(allow_null=True)
    input_tokens = serializers.IntegerField(help_text="Prompt tokens as the providers counted them (cached included).")
    output_tokens = serializers.IntegerField()
    cached_tokens = serializers.IntegerField(help_text="Cache-read part of the input tokens.")
    cost = serializers.DecimalField(
        max_digits=24, decimal_places=8, help_text="USD, sum of the known costs (a decimal string)."
    )
    cost_unknown = serializers.IntegerField(help_text="Calls that reported tokens but no cost (no price known).")
    ttft_count = serializers.IntegerField(help_text="Calls that reported a time to first token.")
    ttft_avg_ms = serializers.FloatField(allow_null=True)
    ttft_p50_ms = serializers.FloatField(allow_null=True, help_text="Upper bound of the histogram bucket.")
    ttft_p95_ms = serializers.FloatField(allow_null=True)
    avg_ms = serializers.FloatField(allow_null=True, help_text="Average latency of the AI calls.")
    p95_ms = serializers.FloatField(allow_null=True)


class AiModelSerializer(AiStatsSerializer):
    key = serializers.DictField(
        help_text="{ai_route, ai_provider, ai_model}: the public model name asked for, the "
        "provider and provider model that answered ('' when none)."
    )
    label = serializers.CharField()  # type: ignore[assignment]


class AiGroupSerializer(AiStatsSerializer):
    key = serializers.DictField(
        help_text="{consumer_tenant_id, application_id} (provider side) or {api_id} (consumer side)."
    )
    label = serializers.CharField()  # type: ignore[assignment]


class AiUsageSerializer(serializers.Serializer):
    window = WindowSerializer()
    totals = AiStatsSerializer()
    models = AiModelSerializer(many=True, help_text="Per model, most calls first.")
    by = serializers.ChoiceField(choices=["applications", "apis"], help_text="What `items` splits the usage by.")
    items = AiGroupSerializer(many=True, help_text="Per application (provider side) or API (consumer side).")


class CallRecordSerializer(serializers.Serializer):
    request_id = serializers.UUIDField()
    ts = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    source = serializers.CharField()  # type: ignore[assignment]
    api_id = serializers.IntegerField(allow_null=True)
    api_version_id = serializers.IntegerField(allow_null=True)
    endpoint = serializers.CharField()
    method = serializers.CharField()
    path = serializers.CharField()
    api_key_id = serializers.IntegerField(allow_null=True)
    key_id = serializers.CharField()
    application_id = serializers.IntegerField(allow_null=True)
    plan_id = serializers.IntegerField(allow_null=True)
    subscription_id = serializers.IntegerField(allow_null=True)
    status = serializers.IntegerField()
    latency_ms = serializers.FloatField()
    upstream_latency_ms = serializers.FloatField(allow_null=True)
    request_bytes = serializers.IntegerField()
    response_bytes = serializers.IntegerField()
    error = serializers.CharField()


class CallDetailSerializer(CallRecordSerializer):
    client_ip = serializers.CharField(allow_null=True)
    user_agent = serializers.CharField()
    ai_route = serializers.CharField()
    ai_provider = serializers.CharField()
    ai_model = serializers.CharField()
    ai_input_tokens = serializers.IntegerField(allow_null=True)
    ai_output_tokens = serializers.IntegerField(allow_null=True)
    ai_cached_tokens = serializers.IntegerField(allow_null=True)
    ai_cost = serializers.DecimalField(max_digits=18, decimal_places=8, allow_null=True)
    ai_ttft_ms = serializers.FloatField(allow_null=True)
    api_name = serializers.CharField()
    application_name = serializers.CharField()


class CallPageSerializer(serializers.Serializer):
    results = CallRecordSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as ?cursor= for the next (older) page.")
