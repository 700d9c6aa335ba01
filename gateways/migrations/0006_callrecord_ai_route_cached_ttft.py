"""AI call records gain the public route asked for, the cache-read part of the input tokens and the
time to first token (docs/ai-gateway.md, "Call records").

The raw table is unmanaged (a partitioned table created in SQL): the columns are added on the
parent, which adds them to every partition; the model state follows with AddField (no SQL for an
unmanaged model). A constant default on a new column is a catalogue change in PostgreSQL, not a
table rewrite, so this is instant however many calls are stored.
"""

from django.db import migrations, models

ADD = """
ALTER TABLE gateways_callrecord
    ADD COLUMN ai_route varchar(160) NOT NULL DEFAULT '',
    ADD COLUMN ai_cached_tokens integer NULL,
    ADD COLUMN ai_ttft_ms double precision NULL;
"""
DROP = """
ALTER TABLE gateways_callrecord DROP COLUMN ai_route, DROP COLUMN ai_cached_tokens, DROP COLUMN ai_ttft_ms;
"""


class Migration(migrations.Migration):
    dependencies = [("gateways", "0005_callrecord_keyset_indexes")]

    operations = [
        migrations.RunSQL(ADD, DROP),
        migrations.AddField(
            "callrecord",
            "ai_route",
            models.CharField(default="", help_text="Public model name asked for.", max_length=160),
        ),
        migrations.AddField(
            "callrecord",
            "ai_cached_tokens",
            models.IntegerField(help_text="Cache-read part of the input tokens.", null=True),
        ),
        migrations.AddField(
            "callrecord",
            "ai_ttft_ms",
            models.FloatField(help_text="Request start → first byte of the answer body sent.", null=True),
        ),
        migrations.AlterField(
            "callrecord",
            "ai_cost",
            models.DecimalField(decimal_places=8, help_text="USD; NULL = price unknown.", max_digits=18, null=True),
        ),
    ]
