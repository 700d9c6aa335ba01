"""Fill the summary buckets that the migrations creating summaries (0003 to 0010) left empty.

Those migrations created summary tables without filling them, so a database whose rollup had
already written hours, days or minutes before them would read zeros for those buckets from
every dashboard that uses a summary. Each summary is its level grouped by fewer dimensions and is
written whole bucket by whole bucket, so a bucket present in the level and absent from the
summary is exactly a bucket never summarised: fill those from the level's rows. On a new
database, or one whose summaries are complete, this inserts nothing.

The shapes are frozen here (the rollup's SUMMARIES may change after this migration).
"""

from django.db import migrations

SHAPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "platform": (("error",), ("minute", "hour", "day")),
    "status": (("status", "error"), ("hour", "day")),
    "tenant": (("provider_tenant_id", "error"), ("minute", "hour", "day")),
    "api": (("provider_tenant_id", "api_id", "api_version_id", "error"), ("minute", "hour", "day")),
    "node": (("provider_tenant_id", "node_id", "status", "error"), ("hour", "day")),
    "application": (("consumer_tenant_id", "application_id", "error"), ("hour", "day")),
    "caller": (("provider_tenant_id", "consumer_tenant_id", "application_id", "error"), ("hour", "day")),
    "endpoint": (("provider_tenant_id", "api_id", "api_version_id", "endpoint", "error"), ("hour", "day")),
    "apicaller": (
        ("provider_tenant_id", "api_id", "consumer_tenant_id", "application_id", "error"),
        ("hour", "day"),
    ),
    "provider": (
        ("provider_tenant_id", "api_id", "api_version_id", "endpoint", "status", "error"),
        ("hour", "day"),
    ),
    "consumerstatus": (("consumer_tenant_id", "application_id", "status", "error"), ("hour", "day")),
    "consumer": (
        (
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
        ("hour", "day"),
    ),
    "consumerendpoint": (
        ("consumer_tenant_id", "application_id", "api_id", "api_version_id", "endpoint", "error"),
        ("hour", "day"),
    ),
}


def backfill_sql(shape: str, level: str) -> str:
    """Insert the ``shape`` summary of every ``level`` bucket the level has and the summary lacks."""
    dims = ", ".join(SHAPES[shape][0])
    summary, source = f"analytics_{shape}summary{level}", f"analytics_rollup{level}"

    def hist(column: str) -> str:
        return "ARRAY[" + ", ".join(f"sum({column}[{i}]::float8)" for i in range(1, 30)) + "]::bigint[]"

    return f"""
        INSERT INTO {summary} (bucket, {dims},
            calls, errors_4xx, errors_5xx, request_bytes, response_bytes, latency_sum, latency_hist,
            upstream_latency_sum, upstream_count, upstream_hist, ai_input_tokens, ai_output_tokens, ai_cost)
        SELECT bucket, {dims},
            sum(calls)::bigint, sum(errors_4xx)::bigint, sum(errors_5xx)::bigint, sum(request_bytes)::bigint,
            sum(response_bytes)::bigint, sum(latency_sum), {hist("latency_hist")},
            sum(upstream_latency_sum), sum(upstream_count)::bigint, {hist("upstream_hist")},
            sum(ai_input_tokens)::bigint, sum(ai_output_tokens)::bigint, sum(ai_cost)
        FROM {source}
        WHERE bucket = ANY(ARRAY(SELECT DISTINCT bucket FROM {source} EXCEPT SELECT DISTINCT bucket FROM {summary}))
        GROUP BY bucket, {dims}
        ORDER BY bucket, {dims}
    """  # noqa: S608 - constants


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0010_consumer_status_summary"),
    ]

    operations = [
        migrations.RunSQL(backfill_sql(shape, level), migrations.RunSQL.noop)
        for shape, (_dims, levels) in SHAPES.items()
        for level in levels
    ]
