"""Any write to the AI gateway's configuration is a new gateway config version (nodes refetch).

The snapshot (gateways/snapshot.py) ships providers with their credentials, models with their
prices, model routes with their targets, and the AI surfaces of routed versions (with the
prompt versions they publish): a statement touching any of these tables bumps the version,
like the catalog tables do (gateways/migrations/0001).
"""

from django.db import migrations

WATCHED = [
    "llm_modelprovider",
    "llm_providercredential",
    "llm_providermodel",
    "llm_modelprice",
    "llm_modelroute",
    "llm_routetarget",
    "llm_aisurface",
    "llm_aisurface_routes",
    "llm_promptversion",
]

CREATE = "".join(
    f"CREATE TRIGGER gateways_config_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
    f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION gateways_bump_config_version();\n"
    for table in WATCHED
)
DROP = "".join(f"DROP TRIGGER IF EXISTS gateways_config_{table} ON {table};\n" for table in WATCHED)


class Migration(migrations.Migration):
    dependencies = [
        ("llm", "0001_initial"),
        ("gateways", "0001_nodes_and_config_version"),
    ]

    operations = [migrations.RunSQL(CREATE, DROP)]
