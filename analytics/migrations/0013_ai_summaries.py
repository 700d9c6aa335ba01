"""AI summaries at hour and day level (analytics.models.AI_SUMMARIES): per provider organisation,
route, provider and model (``aitenant``), and per API, version, route, provider and model
(``aimodel``). The platform's and a provider's AI usage read a few rows per bucket instead of
every AI rollup row of the window.

Filled here from the AI rollup rows already written (a summary is those rows grouped by fewer
dimensions, as the rollup computes it), with the rule frozen; the rollup keeps it from then on.
"""

import django.contrib.postgres.fields
from django.db import migrations, models

#: analytics.models.AI_SUMMARIES when this migration was written.
SHAPES = {
    "aitenant": "provider_tenant_id, ai_route, ai_provider, ai_model",
    "aimodel": "provider_tenant_id, api_id, api_version_id, ai_route, ai_provider, ai_model",
}


def backfill_sql(shape: str, level: str) -> str:
    dims = SHAPES[shape]
    # Histograms add element-wise (float8 sums: exact below 2^53 calls, as in the rollup).
    ttft = ", ".join(f"sum(ttft_hist[{i}]::float8)" for i in range(1, 30))
    latency = ", ".join(f"sum(latency_hist[{i}]::float8)" for i in range(1, 30))
    return f"""
        INSERT INTO analytics_{shape}summary{level} (bucket, {dims}, calls, errors, input_tokens, output_tokens,
            cached_tokens, cost, cost_unknown, ttft_sum, ttft_count, ttft_hist, latency_sum, latency_hist)
        SELECT bucket, {dims}, sum(calls)::bigint, sum(errors)::bigint, sum(input_tokens)::bigint,
            sum(output_tokens)::bigint, sum(cached_tokens)::bigint, sum(cost), sum(cost_unknown)::bigint,
            sum(ttft_sum), sum(ttft_count)::bigint, ARRAY[{ttft}]::bigint[],
            sum(latency_sum), ARRAY[{latency}]::bigint[]
        FROM analytics_airollup{level}
        GROUP BY bucket, {dims}
        ORDER BY bucket, {dims}
    """  # noqa: S608 - constants


class Migration(migrations.Migration):

    dependencies = [
        ('analytics', '0012_ai_rollups'),
    ]

    operations = [
        migrations.CreateModel(
            name='AiModelSummaryDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('bucket', models.DateTimeField(help_text='Start of the minute / hour / UTC day.')),
                ('calls', models.BigIntegerField(db_default=0, default=0)),
                ('errors', models.BigIntegerField(db_default=0, default=0, help_text='Calls with status >= 400 or a refusal.')),
                ('input_tokens', models.BigIntegerField(db_default=0, default=0)),
                ('output_tokens', models.BigIntegerField(db_default=0, default=0)),
                ('cached_tokens', models.BigIntegerField(db_default=0, default=0)),
                ('cost', models.DecimalField(db_default=0, decimal_places=8, default=0, help_text='USD, sum of the known costs.', max_digits=24)),
                ('cost_unknown', models.BigIntegerField(db_default=0, default=0, help_text='Calls that reported tokens but no cost (no price known).')),
                ('ttft_sum', models.FloatField(db_default=0, default=0, help_text='Sum of ai_ttft_ms.')),
                ('ttft_count', models.BigIntegerField(db_default=0, default=0, help_text='Calls that reported a ttft.')),
                ('ttft_hist', django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), help_text='Time to first token histogram.', size=29)),
                ('latency_sum', models.FloatField(db_default=0, default=0)),
                ('latency_hist', django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), size=29)),
                ('provider_tenant_id', models.BigIntegerField(null=True)),
                ('api_id', models.BigIntegerField(null=True)),
                ('api_version_id', models.BigIntegerField(null=True)),
                ('ai_route', models.CharField(db_default='', default='', max_length=160)),
                ('ai_provider', models.CharField(db_default='', default='', max_length=64)),
                ('ai_model', models.CharField(db_default='', default='', max_length=128)),
            ],
            options={
                'indexes': [models.Index(fields=['provider_tenant_id', 'api_id', 'bucket'], name='aimodelsummaryday_provider')],
                'constraints': [models.UniqueConstraint(fields=('bucket', 'provider_tenant_id', 'api_id', 'api_version_id', 'ai_route', 'ai_provider', 'ai_model'), name='aimodelsummaryday_unique_dims', nulls_distinct=False)],
            },
        ),
        migrations.CreateModel(
            name='AiModelSummaryHour',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('bucket', models.DateTimeField(help_text='Start of the minute / hour / UTC day.')),
                ('calls', models.BigIntegerField(db_default=0, default=0)),
                ('errors', models.BigIntegerField(db_default=0, default=0, help_text='Calls with status >= 400 or a refusal.')),
                ('input_tokens', models.BigIntegerField(db_default=0, default=0)),
                ('output_tokens', models.BigIntegerField(db_default=0, default=0)),
                ('cached_tokens', models.BigIntegerField(db_default=0, default=0)),
                ('cost', models.DecimalField(db_default=0, decimal_places=8, default=0, help_text='USD, sum of the known costs.', max_digits=24)),
                ('cost_unknown', models.BigIntegerField(db_default=0, default=0, help_text='Calls that reported tokens but no cost (no price known).')),
                ('ttft_sum', models.FloatField(db_default=0, default=0, help_text='Sum of ai_ttft_ms.')),
                ('ttft_count', models.BigIntegerField(db_default=0, default=0, help_text='Calls that reported a ttft.')),
                ('ttft_hist', django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), help_text='Time to first token histogram.', size=29)),
                ('latency_sum', models.FloatField(db_default=0, default=0)),
                ('latency_hist', django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), size=29)),
                ('provider_tenant_id', models.BigIntegerField(null=True)),
                ('api_id', models.BigIntegerField(null=True)),
                ('api_version_id', models.BigIntegerField(null=True)),
                ('ai_route', models.CharField(db_default='', default='', max_length=160)),
                ('ai_provider', models.CharField(db_default='', default='', max_length=64)),
                ('ai_model', models.CharField(db_default='', default='', max_length=128)),
            ],
            options={
                'indexes': [models.Index(fields=['provider_tenant_id', 'api_id', 'bucket'], name='aimodelsummaryhour_provider')],
                'constraints': [models.UniqueConstraint(fields=('bucket', 'provider_tenant_id', 'api_id', 'api_version_id', 'ai_route', 'ai_provider', 'ai_model'), name='aimodelsummaryhour_unique_dims', nulls_distinct=False)],
            },
        ),
        migrations.CreateModel(
            name='AiTenantSummaryDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('bucket', models.DateTimeField(help_text='Start of the minute / hour / UTC day.')),
                ('calls', models.BigIntegerField(db_default=0, default=0)),
                ('errors', models.BigIntegerField(db_default=0, default=0, help_text='Calls with status >= 400 or a refusal.')),
                ('input_tokens', models.BigIntegerField(db_default=0, default=0)),
                ('output_tokens', models.BigIntegerField(db_default=0, default=0)),
                ('cached_tokens', models.BigIntegerField(db_default=0, default=0)),
                ('cost', models.DecimalField(db_default=0, decimal_places=8, default=0, help_text='USD, sum of the known costs.', max_digits=24)),
                ('cost_unknown', models.BigIntegerField(db_default=0, default=0, help_text='Calls that reported tokens but no cost (no price known).')),
                ('ttft_sum', models.FloatField(db_default=0, default=0, help_text='Sum of ai_ttft_ms.')),
                ('ttft_count', models.BigIntegerField(db_default=0, default=0, help_text='Calls that reported a ttft.')),
                ('ttft_hist', django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), help_text='Time to first token histogram.', size=29)),
                ('latency_sum', models.FloatField(db_default=0, default=0)),
                ('latency_hist', django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), size=29)),
                ('provider_tenant_id', models.BigIntegerField(null=True)),
                ('ai_route', models.CharField(db_default='', default='', max_length=160)),
                ('ai_provider', models.CharField(db_default='', default='', max_length=64)),
                ('ai_model', models.CharField(db_default='', default='', max_length=128)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('bucket', 'provider_tenant_id', 'ai_route', 'ai_provider', 'ai_model'), name='aitenantsummaryday_unique_dims', nulls_distinct=False)],
            },
        ),
        migrations.CreateModel(
            name='AiTenantSummaryHour',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('bucket', models.DateTimeField(help_text='Start of the minute / hour / UTC day.')),
                ('calls', models.BigIntegerField(db_default=0, default=0)),
                ('errors', models.BigIntegerField(db_default=0, default=0, help_text='Calls with status >= 400 or a refusal.')),
                ('input_tokens', models.BigIntegerField(db_default=0, default=0)),
                ('output_tokens', models.BigIntegerField(db_default=0, default=0)),
                ('cached_tokens', models.BigIntegerField(db_default=0, default=0)),
                ('cost', models.DecimalField(db_default=0, decimal_places=8, default=0, help_text='USD, sum of the known costs.', max_digits=24)),
                ('cost_unknown', models.BigIntegerField(db_default=0, default=0, help_text='Calls that reported tokens but no cost (no price known).')),
                ('ttft_sum', models.FloatField(db_default=0, default=0, help_text='Sum of ai_ttft_ms.')),
                ('ttft_count', models.BigIntegerField(db_default=0, default=0, help_text='Calls that reported a ttft.')),
                ('ttft_hist', django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), help_text='Time to first token histogram.', size=29)),
                ('latency_sum', models.FloatField(db_default=0, default=0)),
                ('latency_hist', django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), size=29)),
                ('provider_tenant_id', models.BigIntegerField(null=True)),
                ('ai_route', models.CharField(db_default='', default='', max_length=160)),
                ('ai_provider', models.CharField(db_default='', default='', max_length=64)),
                ('ai_model', models.CharField(db_default='', default='', max_length=128)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('bucket', 'provider_tenant_id', 'ai_route', 'ai_provider', 'ai_model'), name='aitenantsummaryhour_unique_dims', nulls_distinct=False)],
            },
        ),
        *(
            migrations.RunSQL(backfill_sql(shape, level), migrations.RunSQL.noop)
            for shape in SHAPES
            for level in ("hour", "day")
        ),
    ]
