"""The AI hour and day rollups' provider index also covers the ranking of a provider's AI callers
(analytics.selectors._ai_split reads it alone, an index-only scan)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('analytics', '0013_ai_summaries'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='airollupday',
            name='airollupday_provider',
        ),
        migrations.RemoveIndex(
            model_name='airolluphour',
            name='airolluphour_provider',
        ),
        migrations.AddIndex(
            model_name='airollupday',
            index=models.Index(fields=['provider_tenant_id', 'api_id', 'bucket'], include=('api_version_id', 'consumer_tenant_id', 'application_id', 'calls'), name='airollupday_provider'),
        ),
        migrations.AddIndex(
            model_name='airolluphour',
            index=models.Index(fields=['provider_tenant_id', 'api_id', 'bucket'], include=('api_version_id', 'consumer_tenant_id', 'application_id', 'calls'), name='airolluphour_provider'),
        ),
    ]
