"""Rollup tables: raw call records (``gateways_callrecord``) → minute → hour → day.

The three levels have the same columns: a time bucket, the dimensions a dashboard groups or
filters by, and additive measures (counts, sums, histograms). Every measure adds exactly, so a
coarser level is the sum of the finer one and any bucket can be recomputed from its source.
The rows are written only by ``analytics.rollup`` (set-based SQL); see docs/analytics.md.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models

from analytics.histogram import BUCKETS


def unique_dims(
    table: str, dims: tuple[str, ...] | list[str], include: tuple[str, ...] = ()
) -> models.UniqueConstraint:
    """One row per bucket and dimension set; NULL dimensions count as equal (upserts rely on it).

    ``include`` adds columns to the index (``calls``: a platform-wide top-N ranks from it alone)."""
    return models.UniqueConstraint(
        fields=["bucket", *dims], name=f"{table}_unique_dims", nulls_distinct=False, include=list(include)
    )


def index(name: str, *fields: str, include: tuple[str, ...] = ()) -> models.Index:
    return models.Index(fields=list(fields), name=name, include=list(include))


def ranking(shape: str, *fields: str) -> tuple[str, ...]:
    """The columns an index on ``fields`` of a ``shape`` summary includes so that ranking a top-N
    (``sum(calls)`` per group, analytics.selectors._top_rows) is an index-only scan."""
    return (*(d for d in SUMMARIES[shape] if d not in fields), "calls")


#: The dimensions of a rollup row, in the order of the unique constraint (after ``bucket``).
DIMENSIONS = (
    "provider_tenant_id",
    "api_id",
    "api_version_id",
    "endpoint",
    "consumer_tenant_id",
    "application_id",
    "api_key_id",
    "plan_id",
    "status",
    "error",
    "node_id",
)


class RollupMeasures(models.Model):
    """A time bucket and the additive measures every rollup and summary row carries."""

    bucket = models.DateTimeField(help_text="Start of the minute / hour / UTC day.")

    calls = models.BigIntegerField(default=0, db_default=0)
    errors_4xx = models.BigIntegerField(default=0, db_default=0)
    errors_5xx = models.BigIntegerField(default=0, db_default=0)
    request_bytes = models.BigIntegerField(default=0, db_default=0)
    response_bytes = models.BigIntegerField(default=0, db_default=0)
    latency_sum = models.FloatField(default=0, db_default=0, help_text="Sum of latency_ms.")
    latency_hist = ArrayField(models.BigIntegerField(), size=BUCKETS, help_text="Counts per histogram bucket.")
    upstream_latency_sum = models.FloatField(default=0, db_default=0)
    upstream_count = models.BigIntegerField(
        default=0, db_default=0, help_text="Calls that reported an upstream latency."
    )
    upstream_hist = ArrayField(models.BigIntegerField(), size=BUCKETS)
    ai_input_tokens = models.BigIntegerField(default=0, db_default=0)
    ai_output_tokens = models.BigIntegerField(default=0, db_default=0)
    ai_cost = models.DecimalField(max_digits=20, decimal_places=8, default=0, db_default=0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M}: {self.calls} calls"


class Rollup(RollupMeasures):
    """One bucket × one combination of dimensions, with its additive measures.

    Dimension columns hold plain ids (no foreign keys): rollups outlive deleted APIs, keys and
    tenants, and the tables are written in bulk by SQL. ``endpoint`` is the OpenAPI template
    ("GET /orders/{id}"), ``'other'`` when the path matched none of the version's templates, and
    ``''`` when the call matched no API version at all (e.g. ``unknown_route``).
    """

    provider_tenant_id = models.BigIntegerField(null=True)
    api_id = models.BigIntegerField(null=True)
    api_version_id = models.BigIntegerField(null=True)
    endpoint = models.CharField(max_length=300, default="", db_default="")
    consumer_tenant_id = models.BigIntegerField(null=True)
    application_id = models.BigIntegerField(null=True)
    api_key_id = models.BigIntegerField(null=True)
    plan_id = models.BigIntegerField(null=True)
    status = models.SmallIntegerField()
    error = models.CharField(max_length=64, default="", db_default="", help_text="'' or the gateway's refusal reason.")
    node_id = models.BigIntegerField(null=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.endpoint or '-'} {self.status}: {self.calls} calls"


class RollupMinute(Rollup):
    """Calls per minute; kept ``ROLLUP_MINUTE_RETENTION_DAYS`` (14).

    Its histograms are int4[]: one group never counts 2^31 calls in a minute, and the minute
    table is the one the rollup writes most rows to (half the histogram bytes per row).
    """

    latency_hist = ArrayField(models.IntegerField(), size=BUCKETS, help_text="Counts per histogram bucket.")
    upstream_hist = ArrayField(models.IntegerField(), size=BUCKETS)

    class Meta:
        constraints = [unique_dims("rollupminute", DIMENSIONS)]
        indexes = [
            index("rollupminute_provider", "provider_tenant_id", "api_id", "bucket"),
            index("rollupminute_consumer", "consumer_tenant_id", "application_id", "bucket"),
        ]


class RollupHour(Rollup):
    """Calls per hour, summed from the minute rows; kept ``ROLLUP_HOUR_RETENTION_DAYS`` (400)."""

    class Meta:
        constraints = [unique_dims("rolluphour", DIMENSIONS)]
        indexes = [
            index("rolluphour_provider", "provider_tenant_id", "api_id", "bucket"),
            index("rolluphour_consumer", "consumer_tenant_id", "application_id", "bucket"),
        ]


class RollupDay(Rollup):
    """Calls per UTC day, summed from the hour rows; kept for ever."""

    class Meta:
        constraints = [unique_dims("rollupday", DIMENSIONS)]
        indexes = [
            index("rollupday_provider", "provider_tenant_id", "api_id", "bucket"),
            index("rollupday_consumer", "consumer_tenant_id", "application_id", "bucket"),
        ]


#: Summary rollups: narrower copies of the hour and day levels that keep only some dimensions,
#: narrowest first. Each is the hour / day rollup grouped by its dimensions (analytics.rollup keeps
#: them in the same run and transaction); dashboards read the narrowest one that has every
#: dimension a query filters or groups by (analytics.selectors.table_for).
SUMMARIES: dict[str, tuple[str, ...]] = {
    "platform": ("error",),
    "status": ("status", "error"),
    "tenant": ("provider_tenant_id", "error"),
    "api": ("provider_tenant_id", "api_id", "api_version_id", "error"),
    "node": ("provider_tenant_id", "node_id", "status", "error"),
    "application": ("consumer_tenant_id", "application_id", "error"),
    "caller": ("provider_tenant_id", "consumer_tenant_id", "application_id", "error"),
    "endpoint": ("provider_tenant_id", "api_id", "api_version_id", "endpoint", "error"),
    "apicaller": ("provider_tenant_id", "api_id", "consumer_tenant_id", "application_id", "error"),
    "provider": ("provider_tenant_id", "api_id", "api_version_id", "endpoint", "status", "error"),
    "consumerstatus": ("consumer_tenant_id", "application_id", "status", "error"),
    "consumer": (
        "provider_tenant_id",
        "api_id",
        "api_version_id",
        "consumer_tenant_id",
        "application_id",
        "api_key_id",
        "plan_id",
        "status",
        "error",
    ),
    "consumerendpoint": ("consumer_tenant_id", "application_id", "api_id", "api_version_id", "endpoint", "error"),
}


#: The levels each summary exists at: every one at hour and day; the narrowest at minute level
#: too, so a platform-, provider- or API-wide chart of the last hour or day reads a few thousand
#: minute rows instead of every minute rollup row of the window.
SUMMARY_LEVELS: dict[str, tuple[str, ...]] = {
    shape: ("minute", "hour", "day") if shape in ("platform", "tenant", "api") else ("hour", "day")
    for shape in SUMMARIES
}


class PlatformSummary(RollupMeasures):
    """Calls of the whole platform (staff's platform-wide series, totals and trends of calls)."""

    error = models.CharField(max_length=64, default="", db_default="")

    class Meta:
        abstract = True


class PlatformSummaryMinute(PlatformSummary):
    """``platform`` summary per minute; trimmed with the minute rollups."""

    class Meta:
        constraints = [unique_dims("platformsummaryminute", SUMMARIES["platform"])]


class PlatformSummaryHour(PlatformSummary):
    """``platform`` summary per hour; trimmed with the hour rollups."""

    class Meta:
        constraints = [unique_dims("platformsummaryhour", SUMMARIES["platform"])]


class PlatformSummaryDay(PlatformSummary):
    """``platform`` summary per UTC day; kept for ever."""

    class Meta:
        constraints = [unique_dims("platformsummaryday", SUMMARIES["platform"])]


class StatusSummary(RollupMeasures):
    """Calls of the whole platform per status (staff's platform-wide statuses)."""

    status = models.SmallIntegerField()
    error = models.CharField(max_length=64, default="", db_default="")

    class Meta:
        abstract = True


class StatusSummaryHour(StatusSummary):
    """``status`` summary per hour; trimmed with the hour rollups."""

    class Meta:
        constraints = [unique_dims("statussummaryhour", SUMMARIES["status"])]


class StatusSummaryDay(StatusSummary):
    """``status`` summary per UTC day; kept for ever."""

    class Meta:
        constraints = [unique_dims("statussummaryday", SUMMARIES["status"])]


class TenantSummary(RollupMeasures):
    """Calls per provider tenant (platform- and provider-wide series and totals)."""

    provider_tenant_id = models.BigIntegerField(null=True)
    error = models.CharField(max_length=64, default="", db_default="")

    class Meta:
        abstract = True


class TenantSummaryMinute(TenantSummary):
    """``tenant`` summary per minute; trimmed with the minute rollups."""

    class Meta:
        constraints = [unique_dims("tenantsummaryminute", SUMMARIES["tenant"])]
        indexes = [
            index("tenantsummaryminute_provider", "provider_tenant_id", "bucket"),
        ]


class TenantSummaryHour(TenantSummary):
    """``tenant`` summary per hour; trimmed with the hour rollups."""

    class Meta:
        constraints = [unique_dims("tenantsummaryhour", SUMMARIES["tenant"])]
        indexes = [
            index("tenantsummaryhour_provider", "provider_tenant_id", "bucket"),
        ]


class TenantSummaryDay(TenantSummary):
    """``tenant`` summary per UTC day; kept for ever."""

    class Meta:
        constraints = [unique_dims("tenantsummaryday", SUMMARIES["tenant"])]
        indexes = [
            index("tenantsummaryday_provider", "provider_tenant_id", "bucket"),
        ]


class ApiSummary(RollupMeasures):
    """Calls per API and version (an API's or version's charts, top APIs and versions, and the
    platform-wide trends, which compare APIs), without endpoint, status and caller."""

    provider_tenant_id = models.BigIntegerField(null=True)
    api_id = models.BigIntegerField(null=True)
    api_version_id = models.BigIntegerField(null=True)
    error = models.CharField(max_length=64, default="", db_default="")

    class Meta:
        abstract = True


class ApiSummaryMinute(ApiSummary):
    """``api`` summary per minute; trimmed with the minute rollups."""

    class Meta:
        constraints = [unique_dims("apisummaryminute", SUMMARIES["api"])]
        indexes = [
            index("apisummaryminute_provider", "provider_tenant_id", "api_id", "bucket"),
        ]


class ApiSummaryHour(ApiSummary):
    """``api`` summary per hour; trimmed with the hour rollups."""

    class Meta:
        constraints = [unique_dims("apisummaryhour", SUMMARIES["api"], include=("calls",))]
        indexes = [
            index("apisummaryhour_provider", "provider_tenant_id", "api_id", "bucket"),
        ]


class ApiSummaryDay(ApiSummary):
    """``api`` summary per UTC day; kept for ever."""

    class Meta:
        constraints = [unique_dims("apisummaryday", SUMMARIES["api"], include=("calls",))]
        indexes = [
            index("apisummaryday_provider", "provider_tenant_id", "api_id", "bucket"),
        ]


class ApplicationSummary(RollupMeasures):
    """Calls per application (top applications and consumers over wide scopes)."""

    consumer_tenant_id = models.BigIntegerField(null=True)
    application_id = models.BigIntegerField(null=True)
    error = models.CharField(max_length=64, default="", db_default="")

    class Meta:
        abstract = True


class ApplicationSummaryHour(ApplicationSummary):
    """``application`` summary per hour; trimmed with the hour rollups."""

    class Meta:
        constraints = [unique_dims("applicationsummaryhour", SUMMARIES["application"], include=("calls",))]
        indexes = [
            index("appsummaryhour_consumer", "consumer_tenant_id", "bucket"),
            index("appsummaryhour_app", "consumer_tenant_id", "application_id", "bucket"),
        ]


class ApplicationSummaryDay(ApplicationSummary):
    """``application`` summary per UTC day; kept for ever."""

    class Meta:
        constraints = [unique_dims("applicationsummaryday", SUMMARIES["application"], include=("calls",))]
        indexes = [
            index("appsummaryday_consumer", "consumer_tenant_id", "bucket"),
            index("appsummaryday_app", "consumer_tenant_id", "application_id", "bucket"),
        ]


class CallerSummary(RollupMeasures):
    """Calls per provider and application (a provider's top consumers)."""

    provider_tenant_id = models.BigIntegerField(null=True)
    consumer_tenant_id = models.BigIntegerField(null=True)
    application_id = models.BigIntegerField(null=True)
    error = models.CharField(max_length=64, default="", db_default="")

    class Meta:
        abstract = True


class CallerSummaryHour(CallerSummary):
    """``caller`` summary per hour; trimmed with the hour rollups."""

    class Meta:
        constraints = [unique_dims("callersummaryhour", SUMMARIES["caller"])]
        indexes = [
            index(
                "callersummaryhour_provider",
                "provider_tenant_id",
                "bucket",
                include=ranking("caller", "provider_tenant_id"),
            ),
            index("callersummaryhour_app", "provider_tenant_id", "application_id", "bucket"),
        ]


class CallerSummaryDay(CallerSummary):
    """``caller`` summary per UTC day; kept for ever."""

    class Meta:
        constraints = [unique_dims("callersummaryday", SUMMARIES["caller"])]
        indexes = [
            index(
                "callersummaryday_provider",
                "provider_tenant_id",
                "bucket",
                include=ranking("caller", "provider_tenant_id"),
            ),
            index("callersummaryday_app", "provider_tenant_id", "application_id", "bucket"),
        ]


class NodeSummary(RollupMeasures):
    """Calls per provider tenant, node and status (statuses, nodes)."""

    provider_tenant_id = models.BigIntegerField(null=True)
    node_id = models.BigIntegerField(null=True)
    status = models.SmallIntegerField()
    error = models.CharField(max_length=64, default="", db_default="")

    class Meta:
        abstract = True


class NodeSummaryHour(NodeSummary):
    """``node`` summary per hour; trimmed with the hour rollups."""

    class Meta:
        constraints = [unique_dims("nodesummaryhour", SUMMARIES["node"])]
        indexes = [
            index("nodesummaryhour_provider", "provider_tenant_id", "bucket"),
        ]


class NodeSummaryDay(NodeSummary):
    """``node`` summary per UTC day; kept for ever."""

    class Meta:
        constraints = [unique_dims("nodesummaryday", SUMMARIES["node"])]
        indexes = [
            index("nodesummaryday_provider", "provider_tenant_id", "bucket"),
        ]


class EndpointSummary(RollupMeasures):
    """Calls per API, version and endpoint (endpoint tops and trends), without status and caller."""

    provider_tenant_id = models.BigIntegerField(null=True)
    api_id = models.BigIntegerField(null=True)
    api_version_id = models.BigIntegerField(null=True)
    endpoint = models.CharField(max_length=300, default="", db_default="")
    error = models.CharField(max_length=64, default="", db_default="")

    class Meta:
        abstract = True


class EndpointSummaryHour(EndpointSummary):
    """``endpoint`` summary per hour; trimmed with the hour rollups."""

    class Meta:
        constraints = [unique_dims("endpointsummaryhour", SUMMARIES["endpoint"], include=("calls",))]
        indexes = [
            index(
                "endpointsummaryhour_provider",
                "provider_tenant_id",
                "api_id",
                "bucket",
                include=ranking("endpoint", "provider_tenant_id", "api_id"),
            ),
            index("endpointsummaryhour_api", "api_id", "bucket"),
        ]


class EndpointSummaryDay(EndpointSummary):
    """``endpoint`` summary per UTC day; kept for ever."""

    class Meta:
        constraints = [unique_dims("endpointsummaryday", SUMMARIES["endpoint"], include=("calls",))]
        indexes = [
            index(
                "endpointsummaryday_provider",
                "provider_tenant_id",
                "api_id",
                "bucket",
                include=ranking("endpoint", "provider_tenant_id", "api_id"),
            ),
            index("endpointsummaryday_api", "api_id", "bucket"),
        ]


class ApiCallerSummary(RollupMeasures):
    """Calls per API and application (top consumers of one API), without endpoint, key and status."""

    provider_tenant_id = models.BigIntegerField(null=True)
    api_id = models.BigIntegerField(null=True)
    consumer_tenant_id = models.BigIntegerField(null=True)
    application_id = models.BigIntegerField(null=True)
    error = models.CharField(max_length=64, default="", db_default="")

    class Meta:
        abstract = True


class ApiCallerSummaryHour(ApiCallerSummary):
    """``apicaller`` summary per hour; trimmed with the hour rollups."""

    class Meta:
        constraints = [unique_dims("apicallersummaryhour", SUMMARIES["apicaller"])]
        indexes = [
            index(
                "apicallersummaryhour_provider",
                "provider_tenant_id",
                "api_id",
                "bucket",
                include=ranking("apicaller", "provider_tenant_id", "api_id"),
            ),
            index("apicallersummaryhour_app", "provider_tenant_id", "api_id", "application_id", "bucket"),
        ]


class ApiCallerSummaryDay(ApiCallerSummary):
    """``apicaller`` summary per UTC day; kept for ever."""

    class Meta:
        constraints = [unique_dims("apicallersummaryday", SUMMARIES["apicaller"])]
        indexes = [
            index(
                "apicallersummaryday_provider",
                "provider_tenant_id",
                "api_id",
                "bucket",
                include=ranking("apicaller", "provider_tenant_id", "api_id"),
            ),
            index("apicallersummaryday_app", "provider_tenant_id", "api_id", "application_id", "bucket"),
        ]


class ProviderSummary(RollupMeasures):
    """Calls per API, version, endpoint and status (the provider's views, without who called)."""

    provider_tenant_id = models.BigIntegerField(null=True)
    api_id = models.BigIntegerField(null=True)
    api_version_id = models.BigIntegerField(null=True)
    endpoint = models.CharField(max_length=300, default="", db_default="")
    status = models.SmallIntegerField()
    error = models.CharField(max_length=64, default="", db_default="")

    class Meta:
        abstract = True


class ProviderSummaryHour(ProviderSummary):
    """``provider`` summary per hour; trimmed with the hour rollups."""

    class Meta:
        constraints = [unique_dims("providersummaryhour", SUMMARIES["provider"])]
        indexes = [
            index("providersummaryhour_provider", "provider_tenant_id", "api_id", "bucket"),
        ]


class ProviderSummaryDay(ProviderSummary):
    """``provider`` summary per UTC day; kept for ever."""

    class Meta:
        constraints = [unique_dims("providersummaryday", SUMMARIES["provider"])]
        indexes = [
            index("providersummaryday_provider", "provider_tenant_id", "api_id", "bucket"),
        ]


class ConsumerStatusSummary(RollupMeasures):
    """Calls per consumer, application and status (a consumer's status codes), without provider,
    API, key and node."""

    consumer_tenant_id = models.BigIntegerField(null=True)
    application_id = models.BigIntegerField(null=True)
    status = models.SmallIntegerField()
    error = models.CharField(max_length=64, default="", db_default="")

    class Meta:
        abstract = True


class ConsumerStatusSummaryHour(ConsumerStatusSummary):
    """``consumerstatus`` summary per hour; trimmed with the hour rollups."""

    class Meta:
        constraints = [unique_dims("consumerstatussummaryhour", SUMMARIES["consumerstatus"])]
        indexes = [index("consumerstatushour_consumer", "consumer_tenant_id", "application_id", "bucket")]


class ConsumerStatusSummaryDay(ConsumerStatusSummary):
    """``consumerstatus`` summary per UTC day; kept for ever."""

    class Meta:
        constraints = [unique_dims("consumerstatussummaryday", SUMMARIES["consumerstatus"])]
        indexes = [index("consumerstatusday_consumer", "consumer_tenant_id", "application_id", "bucket")]


class ConsumerSummary(RollupMeasures):
    """Calls per API and caller (application, key, plan) and status, without endpoint and node."""

    provider_tenant_id = models.BigIntegerField(null=True)
    api_id = models.BigIntegerField(null=True)
    api_version_id = models.BigIntegerField(null=True)
    consumer_tenant_id = models.BigIntegerField(null=True)
    application_id = models.BigIntegerField(null=True)
    api_key_id = models.BigIntegerField(null=True)
    plan_id = models.BigIntegerField(null=True)
    status = models.SmallIntegerField()
    error = models.CharField(max_length=64, default="", db_default="")

    class Meta:
        abstract = True


class ConsumerSummaryHour(ConsumerSummary):
    """``consumer`` summary per hour; trimmed with the hour rollups."""

    class Meta:
        constraints = [unique_dims("consumersummaryhour", SUMMARIES["consumer"])]
        indexes = [
            index("consumersummaryhour_consumer", "consumer_tenant_id", "application_id", "bucket"),
            index("consumersummaryhour_provider", "provider_tenant_id", "api_id", "bucket"),
        ]


class ConsumerSummaryDay(ConsumerSummary):
    """``consumer`` summary per UTC day; kept for ever."""

    class Meta:
        constraints = [unique_dims("consumersummaryday", SUMMARIES["consumer"])]
        indexes = [
            index("consumersummaryday_consumer", "consumer_tenant_id", "application_id", "bucket"),
            index("consumersummaryday_provider", "provider_tenant_id", "api_id", "bucket"),
        ]


class ConsumerEndpointSummary(RollupMeasures):
    """Calls per consumer, application and endpoint (a consumer's top endpoints and trends), without
    provider, key, status and node. Rows are written ordered by consumer within each bucket, so a
    consumer's rows of a day sit on a few pages."""

    consumer_tenant_id = models.BigIntegerField(null=True)
    application_id = models.BigIntegerField(null=True)
    api_id = models.BigIntegerField(null=True)
    api_version_id = models.BigIntegerField(null=True)
    endpoint = models.CharField(max_length=300, default="", db_default="")
    error = models.CharField(max_length=64, default="", db_default="")

    class Meta:
        abstract = True


class ConsumerEndpointSummaryHour(ConsumerEndpointSummary):
    """``consumerendpoint`` summary per hour; trimmed with the hour rollups."""

    class Meta:
        constraints = [unique_dims("consumerendpointsummaryhour", SUMMARIES["consumerendpoint"])]
        indexes = [
            index(
                "consumerendpointhour_consumer",
                "consumer_tenant_id",
                "bucket",
                include=ranking("consumerendpoint", "consumer_tenant_id"),
            ),
        ]


class ConsumerEndpointSummaryDay(ConsumerEndpointSummary):
    """``consumerendpoint`` summary per UTC day; kept for ever."""

    class Meta:
        constraints = [unique_dims("consumerendpointsummaryday", SUMMARIES["consumerendpoint"])]
        indexes = [
            index(
                "consumerendpointday_consumer",
                "consumer_tenant_id",
                "bucket",
                include=ranking("consumerendpoint", "consumer_tenant_id"),
            ),
        ]


#: The dimensions of an AI rollup row, in the order of its unique constraint (after ``bucket``).
AI_DIMENSIONS = (
    "provider_tenant_id",
    "api_id",
    "api_version_id",
    "consumer_tenant_id",
    "application_id",
    "api_key_id",
    "ai_route",
    "ai_provider",
    "ai_model",
)


class AiMeasures(models.Model):
    """A time bucket and the additive measures every AI rollup and AI summary row carries."""

    bucket = models.DateTimeField(help_text="Start of the minute / hour / UTC day.")

    calls = models.BigIntegerField(default=0, db_default=0)
    errors = models.BigIntegerField(default=0, db_default=0, help_text="Calls with status >= 400 or a refusal.")
    input_tokens = models.BigIntegerField(default=0, db_default=0)
    output_tokens = models.BigIntegerField(default=0, db_default=0)
    cached_tokens = models.BigIntegerField(default=0, db_default=0)
    cost = models.DecimalField(
        max_digits=24, decimal_places=8, default=0, db_default=0, help_text="USD, sum of the known costs."
    )
    cost_unknown = models.BigIntegerField(
        default=0, db_default=0, help_text="Calls that reported tokens but no cost (no price known)."
    )
    ttft_sum = models.FloatField(default=0, db_default=0, help_text="Sum of ai_ttft_ms.")
    ttft_count = models.BigIntegerField(default=0, db_default=0, help_text="Calls that reported a ttft.")
    ttft_hist = ArrayField(models.BigIntegerField(), size=BUCKETS, help_text="Time to first token histogram.")
    latency_sum = models.FloatField(default=0, db_default=0)
    latency_hist = ArrayField(models.BigIntegerField(), size=BUCKETS)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M}: {self.calls} AI calls"


class AiRollup(AiMeasures):
    """AI calls (raw rows with ``ai_model`` or ``ai_route`` set) of one bucket × one combination
    of ``AI_DIMENSIONS``, with additive measures (docs/analytics.md, "AI rollups").

    Kept beside the call rollups rather than as more dimensions of them: route, provider and
    model would multiply the rows of every call rollup and summary for the few calls that have
    them. Written by ``analytics.rollup`` in the same run and transaction as the call rollups,
    for the same buckets, replaced and never incremented.
    """

    provider_tenant_id = models.BigIntegerField(null=True)
    api_id = models.BigIntegerField(null=True)
    api_version_id = models.BigIntegerField(null=True)
    consumer_tenant_id = models.BigIntegerField(null=True)
    application_id = models.BigIntegerField(null=True)
    api_key_id = models.BigIntegerField(null=True)
    ai_route = models.CharField(max_length=160, default="", db_default="")
    ai_provider = models.CharField(max_length=64, default="", db_default="")
    ai_model = models.CharField(max_length=128, default="", db_default="")

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.ai_route or self.ai_model}: {self.calls} calls"


class AiRollupMinute(AiRollup):
    """AI calls per minute; trimmed with the minute rollups. Histograms int4[] like theirs."""

    ttft_hist = ArrayField(models.IntegerField(), size=BUCKETS, help_text="Time to first token histogram.")
    latency_hist = ArrayField(models.IntegerField(), size=BUCKETS)

    class Meta:
        constraints = [unique_dims("airollupminute", AI_DIMENSIONS)]
        indexes = [
            index("airollupminute_provider", "provider_tenant_id", "api_id", "bucket"),
            index("airollupminute_consumer", "consumer_tenant_id", "application_id", "bucket"),
        ]


class AiRollupHour(AiRollup):
    """AI calls per hour, summed from the minute rows; trimmed with the hour rollups."""

    class Meta:
        constraints = [unique_dims("airolluphour", AI_DIMENSIONS)]
        indexes = [
            # Covering a provider's ranking of its AI callers (selectors._ai_split): index only.
            index(
                "airolluphour_provider",
                "provider_tenant_id",
                "api_id",
                "bucket",
                include=("api_version_id", "consumer_tenant_id", "application_id", "calls"),
            ),
            index("airolluphour_consumer", "consumer_tenant_id", "application_id", "bucket"),
        ]


class AiRollupDay(AiRollup):
    """AI calls per UTC day, summed from the hour rows; kept for ever."""

    class Meta:
        constraints = [unique_dims("airollupday", AI_DIMENSIONS)]
        indexes = [
            # Covering a provider's ranking of its AI callers (selectors._ai_split): index only.
            index(
                "airollupday_provider",
                "provider_tenant_id",
                "api_id",
                "bucket",
                include=("api_version_id", "consumer_tenant_id", "application_id", "calls"),
            ),
            index("airollupday_consumer", "consumer_tenant_id", "application_id", "bucket"),
        ]


#: AI summaries: narrower copies of the AI hour and day rollups that keep only some dimensions,
#: as ``SUMMARIES`` are of the call rollups (analytics.rollup keeps them in the same run and
#: transaction; analytics.selectors.ai_table_for picks the narrowest that has what a query needs).
#: ``aitenant`` serves the staff's platform-wide AI usage (per model and per provider
#: organisation) and a provider's totals and models; ``aimodel`` those of one API or version. A
#: few rows per bucket instead of one per key, application and model.
AI_SUMMARIES: dict[str, tuple[str, ...]] = {
    "aitenant": ("provider_tenant_id", "ai_route", "ai_provider", "ai_model"),
    "aimodel": ("provider_tenant_id", "api_id", "api_version_id", "ai_route", "ai_provider", "ai_model"),
}
#: The levels each AI summary exists at. No minute level: a window reads whole hours and days
#: wherever it has them (analytics.selectors.pieces), so minutes are read only at its edges and
#: for the open hour.
AI_SUMMARY_LEVELS: dict[str, tuple[str, ...]] = dict.fromkeys(AI_SUMMARIES, ("hour", "day"))


class AiTenantSummary(AiMeasures):
    """AI calls per provider organisation, route, provider and model, without API and caller."""

    provider_tenant_id = models.BigIntegerField(null=True)
    ai_route = models.CharField(max_length=160, default="", db_default="")
    ai_provider = models.CharField(max_length=64, default="", db_default="")
    ai_model = models.CharField(max_length=128, default="", db_default="")

    class Meta:
        abstract = True


class AiTenantSummaryHour(AiTenantSummary):
    """``aitenant`` summary per hour; trimmed with the hour rollups."""

    class Meta:
        constraints = [unique_dims("aitenantsummaryhour", AI_SUMMARIES["aitenant"])]


class AiTenantSummaryDay(AiTenantSummary):
    """``aitenant`` summary per UTC day; kept for ever."""

    class Meta:
        constraints = [unique_dims("aitenantsummaryday", AI_SUMMARIES["aitenant"])]


class AiModelSummary(AiMeasures):
    """AI calls per API, version, route, provider and model, without caller."""

    provider_tenant_id = models.BigIntegerField(null=True)
    api_id = models.BigIntegerField(null=True)
    api_version_id = models.BigIntegerField(null=True)
    ai_route = models.CharField(max_length=160, default="", db_default="")
    ai_provider = models.CharField(max_length=64, default="", db_default="")
    ai_model = models.CharField(max_length=128, default="", db_default="")

    class Meta:
        abstract = True


class AiModelSummaryHour(AiModelSummary):
    """``aimodel`` summary per hour; trimmed with the hour rollups."""

    class Meta:
        constraints = [unique_dims("aimodelsummaryhour", AI_SUMMARIES["aimodel"])]
        indexes = [index("aimodelsummaryhour_provider", "provider_tenant_id", "api_id", "bucket")]


class AiModelSummaryDay(AiModelSummary):
    """``aimodel`` summary per UTC day; kept for ever."""

    class Meta:
        constraints = [unique_dims("aimodelsummaryday", AI_SUMMARIES["aimodel"])]
        indexes = [index("aimodelsummaryday_provider", "provider_tenant_id", "api_id", "bucket")]


class Watermark(models.Model):
    """How far a level is rolled up.

    Buckets before ``upto`` are final as of the last run; later ones are recomputed on every run.
    ``seen_upto`` (minute level) is a ``received_at`` bound: every raw record received before it
    was visible to the last run, so records received since then with ``ts < upto`` are late and
    mark their buckets dirty.
    """

    level = models.CharField(max_length=16, primary_key=True)
    upto = models.DateTimeField(null=True)
    seen_upto = models.DateTimeField(null=True)
    updated_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"{self.level} up to {self.upto}"


class DirtyBucket(models.Model):
    """A bucket of a level that must be recomputed from its source (late data, or marked by hand)."""

    pk = models.CompositePrimaryKey("level", "bucket")
    level = models.CharField(max_length=16)
    bucket = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.level} {self.bucket}"
