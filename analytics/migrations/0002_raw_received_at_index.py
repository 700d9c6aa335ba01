from django.db import migrations

# The rollup finds late records (received since its last run, timestamped before its
# watermark) by received_at; without this index that query reads the whole raw table every
# run. Created on the partitioned parent, so every existing and future partition gets it.
CREATE = "CREATE INDEX IF NOT EXISTS gateways_callrecord_received_at_idx ON gateways_callrecord (received_at);"
DROP = "DROP INDEX IF EXISTS gateways_callrecord_received_at_idx;"


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_rollups_watermarks_dirty_buckets"),
        ("gateways", "0002_callrecord_ingest_batch_quarantine"),
    ]

    operations = [migrations.RunSQL(CREATE, DROP)]
