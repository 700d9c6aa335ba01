"""Suspending an organisation (or lifting it) changes the gateway config: its keys leave it."""

from django.db import migrations

# Per row with a WHEN clause: a rename saves every column, and must not cost nodes a refetch.
CREATE = """
CREATE TRIGGER gateways_config_tenants_tenant AFTER UPDATE OF suspended_at ON tenants_tenant
FOR EACH ROW WHEN (OLD.suspended_at IS DISTINCT FROM NEW.suspended_at)
EXECUTE FUNCTION gateways_bump_config_version();
"""
DROP = "DROP TRIGGER IF EXISTS gateways_config_tenants_tenant ON tenants_tenant;"


class Migration(migrations.Migration):
    dependencies = [
        ("gateways", "0003_verbose_names"),
        ("tenants", "0004_tenant_suspension"),
    ]

    operations = [migrations.RunSQL(CREATE, DROP)]
