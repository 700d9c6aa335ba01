"""AI rollups per minute / hour / day (docs/analytics.md, "AI rollups"), filled from the raw
records still kept for the buckets the rollup has already passed.

The rollup writes a level's buckets from its watermark on; the ones before it would stay empty
on a database that already holds AI calls (``ai_model`` existed before this table). Those are
computed here from raw, level by level, each below its own watermark, with the rules frozen
(the rollup's SQL may change after this migration). Raw records are kept RAW_RETENTION_DAYS, so
older hours and days stay without AI rows. On a new database this inserts nothing.
"""

import django.contrib.postgres.fields
from django.db import migrations, models

#: analytics.histogram.BOUNDS_MS when this migration was written.
BOUNDS_MS = [
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700,
    1000, 1500, 2000, 3000, 5000, 7000, 10000, 15000, 20000, 30000, 60000,
]  # fmt: skip
DIMS = (
    "provider_tenant_id, api_id, api_version_id, consumer_tenant_id, application_id, api_key_id, "
    "ai_route, ai_provider, ai_model"
)


def _index(column: str) -> str:
    arms = " ".join(f"WHEN {column} <= {bound} THEN {i}" for i, bound in enumerate(BOUNDS_MS))
    return f"CASE {arms} ELSE {len(BOUNDS_MS)} END"


def _hist(column: str, array_type: str) -> str:
    counts = ", ".join(
        f"count(*) FILTER (WHERE {column} IS NOT NULL AND {_index(column)} = {i})" for i in range(len(BOUNDS_MS) + 1)
    )
    return f"ARRAY[{counts}]::{array_type}"


def backfill_sql(level: str) -> str:
    array_type = "int4[]" if level == "minute" else "bigint[]"
    return f"""
        INSERT INTO analytics_airollup{level} (bucket, {DIMS}, calls, errors, input_tokens, output_tokens,
            cached_tokens, cost, cost_unknown, ttft_sum, ttft_count, ttft_hist, latency_sum, latency_hist)
        SELECT date_trunc('{level}', ts, 'UTC'), {DIMS}, count(*),
            count(*) FILTER (WHERE status >= 400 OR error <> ''),
            coalesce(sum(ai_input_tokens), 0), coalesce(sum(ai_output_tokens), 0), coalesce(sum(ai_cached_tokens), 0),
            coalesce(sum(ai_cost), 0),
            count(*) FILTER (WHERE ai_cost IS NULL AND (ai_input_tokens IS NOT NULL OR ai_output_tokens IS NOT NULL)),
            coalesce(sum(ai_ttft_ms), 0), count(ai_ttft_ms), {_hist("ai_ttft_ms", array_type)},
            coalesce(sum(latency_ms), 0), {_hist("latency_ms", array_type)}
        FROM gateways_callrecord
        WHERE (ai_model <> '' OR ai_route <> '')
          AND ts < (SELECT upto FROM analytics_watermark WHERE level = '{level}')
        GROUP BY 1, {DIMS}
        ORDER BY 1, {DIMS}
    """  # noqa: S608 - constants


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0011_backfill_missing_summary_buckets"),
        ("gateways", "0006_callrecord_ai_route_cached_ttft"),
    ]

    operations = [
        migrations.CreateModel(
            name="AiRollupDay",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("bucket", models.DateTimeField(help_text="Start of the minute / hour / UTC day.")),
                ("provider_tenant_id", models.BigIntegerField(null=True)),
                ("api_id", models.BigIntegerField(null=True)),
                ("api_version_id", models.BigIntegerField(null=True)),
                ("consumer_tenant_id", models.BigIntegerField(null=True)),
                ("application_id", models.BigIntegerField(null=True)),
                ("api_key_id", models.BigIntegerField(null=True)),
                ("ai_route", models.CharField(db_default="", default="", max_length=160)),
                ("ai_provider", models.CharField(db_default="", default="", max_length=64)),
                ("ai_model", models.CharField(db_default="", default="", max_length=128)),
                ("calls", models.BigIntegerField(db_default=0, default=0)),
                (
                    "errors",
                    models.BigIntegerField(db_default=0, default=0, help_text="Calls with status >= 400 or a refusal."),
                ),
                ("input_tokens", models.BigIntegerField(db_default=0, default=0)),
                ("output_tokens", models.BigIntegerField(db_default=0, default=0)),
                ("cached_tokens", models.BigIntegerField(db_default=0, default=0)),
                (
                    "cost",
                    models.DecimalField(
                        db_default=0,
                        decimal_places=8,
                        default=0,
                        help_text="USD, sum of the known costs.",
                        max_digits=24,
                    ),
                ),
                (
                    "cost_unknown",
                    models.BigIntegerField(
                        db_default=0, default=0, help_text="Calls that reported tokens but no cost (no price known)."
                    ),
                ),
                ("ttft_sum", models.FloatField(db_default=0, default=0, help_text="Sum of ai_ttft_ms.")),
                (
                    "ttft_count",
                    models.BigIntegerField(db_default=0, default=0, help_text="Calls that reported a ttft."),
                ),
                (
                    "ttft_hist",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.BigIntegerField(), help_text="Time to first token histogram.", size=29
                    ),
                ),
                ("latency_sum", models.FloatField(db_default=0, default=0)),
                (
                    "latency_hist",
                    django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), size=29),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["provider_tenant_id", "api_id", "bucket"], name="airollupday_provider"),
                    models.Index(
                        fields=["consumer_tenant_id", "application_id", "bucket"], name="airollupday_consumer"
                    ),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=(
                            "bucket",
                            "provider_tenant_id",
                            "api_id",
                            "api_version_id",
                            "consumer_tenant_id",
                            "application_id",
                            "api_key_id",
                            "ai_route",
                            "ai_provider",
                            "ai_model",
                        ),
                        name="airollupday_unique_dims",
                        nulls_distinct=False,
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="AiRollupHour",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("bucket", models.DateTimeField(help_text="Start of the minute / hour / UTC day.")),
                ("provider_tenant_id", models.BigIntegerField(null=True)),
                ("api_id", models.BigIntegerField(null=True)),
                ("api_version_id", models.BigIntegerField(null=True)),
                ("consumer_tenant_id", models.BigIntegerField(null=True)),
                ("application_id", models.BigIntegerField(null=True)),
                ("api_key_id", models.BigIntegerField(null=True)),
                ("ai_route", models.CharField(db_default="", default="", max_length=160)),
                ("ai_provider", models.CharField(db_default="", default="", max_length=64)),
                ("ai_model", models.CharField(db_default="", default="", max_length=128)),
                ("calls", models.BigIntegerField(db_default=0, default=0)),
                (
                    "errors",
                    models.BigIntegerField(db_default=0, default=0, help_text="Calls with status >= 400 or a refusal."),
                ),
                ("input_tokens", models.BigIntegerField(db_default=0, default=0)),
                ("output_tokens", models.BigIntegerField(db_default=0, default=0)),
                ("cached_tokens", models.BigIntegerField(db_default=0, default=0)),
                (
                    "cost",
                    models.DecimalField(
                        db_default=0,
                        decimal_places=8,
                        default=0,
                        help_text="USD, sum of the known costs.",
                        max_digits=24,
                    ),
                ),
                (
                    "cost_unknown",
                    models.BigIntegerField(
                        db_default=0, default=0, help_text="Calls that reported tokens but no cost (no price known)."
                    ),
                ),
                ("ttft_sum", models.FloatField(db_default=0, default=0, help_text="Sum of ai_ttft_ms.")),
                (
                    "ttft_count",
                    models.BigIntegerField(db_default=0, default=0, help_text="Calls that reported a ttft."),
                ),
                (
                    "ttft_hist",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.BigIntegerField(), help_text="Time to first token histogram.", size=29
                    ),
                ),
                ("latency_sum", models.FloatField(db_default=0, default=0)),
                (
                    "latency_hist",
                    django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), size=29),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["provider_tenant_id", "api_id", "bucket"], name="airolluphour_provider"),
                    models.Index(
                        fields=["consumer_tenant_id", "application_id", "bucket"], name="airolluphour_consumer"
                    ),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=(
                            "bucket",
                            "provider_tenant_id",
                            "api_id",
                            "api_version_id",
                            "consumer_tenant_id",
                            "application_id",
                            "api_key_id",
                            "ai_route",
                            "ai_provider",
                            "ai_model",
                        ),
                        name="airolluphour_unique_dims",
                        nulls_distinct=False,
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="AiRollupMinute",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("bucket", models.DateTimeField(help_text="Start of the minute / hour / UTC day.")),
                ("provider_tenant_id", models.BigIntegerField(null=True)),
                ("api_id", models.BigIntegerField(null=True)),
                ("api_version_id", models.BigIntegerField(null=True)),
                ("consumer_tenant_id", models.BigIntegerField(null=True)),
                ("application_id", models.BigIntegerField(null=True)),
                ("api_key_id", models.BigIntegerField(null=True)),
                ("ai_route", models.CharField(db_default="", default="", max_length=160)),
                ("ai_provider", models.CharField(db_default="", default="", max_length=64)),
                ("ai_model", models.CharField(db_default="", default="", max_length=128)),
                ("calls", models.BigIntegerField(db_default=0, default=0)),
                (
                    "errors",
                    models.BigIntegerField(db_default=0, default=0, help_text="Calls with status >= 400 or a refusal."),
                ),
                ("input_tokens", models.BigIntegerField(db_default=0, default=0)),
                ("output_tokens", models.BigIntegerField(db_default=0, default=0)),
                ("cached_tokens", models.BigIntegerField(db_default=0, default=0)),
                (
                    "cost",
                    models.DecimalField(
                        db_default=0,
                        decimal_places=8,
                        default=0,
                        help_text="USD, sum of the known costs.",
                        max_digits=24,
                    ),
                ),
                (
                    "cost_unknown",
                    models.BigIntegerField(
                        db_default=0, default=0, help_text="Calls that reported tokens but no cost (no price known)."
                    ),
                ),
                ("ttft_sum", models.FloatField(db_default=0, default=0, help_text="Sum of ai_ttft_ms.")),
                (
                    "ttft_count",
                    models.BigIntegerField(db_default=0, default=0, help_text="Calls that reported a ttft."),
                ),
                ("latency_sum", models.FloatField(db_default=0, default=0)),
                (
                    "ttft_hist",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.IntegerField(), help_text="Time to first token histogram.", size=29
                    ),
                ),
                ("latency_hist", django.contrib.postgres.fields.ArrayField(base_field=models.IntegerField(), size=29)),
            ],
            options={
                "indexes": [
                    models.Index(fields=["provider_tenant_id", "api_id", "bucket"], name="airollupminute_provider"),
                    models.Index(
                        fields=["consumer_tenant_id", "application_id", "bucket"], name="airollupminute_consumer"
                    ),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=(
                            "bucket",
                            "provider_tenant_id",
                            "api_id",
                            "api_version_id",
                            "consumer_tenant_id",
                            "application_id",
                            "api_key_id",
                            "ai_route",
                            "ai_provider",
                            "ai_model",
                        ),
                        name="airollupminute_unique_dims",
                        nulls_distinct=False,
                    )
                ],
            },
        ),
        *(migrations.RunSQL(backfill_sql(level), migrations.RunSQL.noop) for level in ("minute", "hour", "day")),
    ]
