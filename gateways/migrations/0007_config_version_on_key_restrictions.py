"""Key restrictions (client IP ranges, allowed APIs, a per-key rate limit) are in the gateway
config, so changing them is a new config version.

* ``subscriptions_apikey``: its trigger fires on updates of the columns nodes receive only
  (0001: ``last_used_at`` is stamped often and is not config). The restriction columns join
  that list: the trigger is recreated with them.
* ``subscriptions_apikey_allowed_apis`` (the allowed APIs, a many-to-many table): any write.
"""

from django.db import migrations

#: Columns of subscriptions_apikey a node receives, as 0001 watched them.
BEFORE = "application_id, key_id, key_hash, expires_at, revoked_at, rotated_at, replaced_by_id"
AFTER = f"{BEFORE}, allowed_cidrs, rate_limit_per_minute"


def _apikey_trigger(columns: str) -> str:
    return (
        "DROP TRIGGER IF EXISTS gateways_config_subscriptions_apikey ON subscriptions_apikey;\n"
        "CREATE TRIGGER gateways_config_subscriptions_apikey "
        f"AFTER INSERT OR UPDATE OF {columns} OR DELETE OR TRUNCATE "
        "ON subscriptions_apikey FOR EACH STATEMENT EXECUTE FUNCTION gateways_bump_config_version();\n"
    )


CREATE = _apikey_trigger(AFTER) + (
    "CREATE TRIGGER gateways_config_subscriptions_apikey_allowed_apis "
    "AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON subscriptions_apikey_allowed_apis "
    "FOR EACH STATEMENT EXECUTE FUNCTION gateways_bump_config_version();\n"
)
DROP = (
    "DROP TRIGGER IF EXISTS gateways_config_subscriptions_apikey_allowed_apis ON subscriptions_apikey_allowed_apis;\n"
    + _apikey_trigger(BEFORE)
)


class Migration(migrations.Migration):
    dependencies = [
        ("gateways", "0006_callrecord_ai_route_cached_ttft"),
        ("subscriptions", "0010_key_purpose_and_restrictions"),
    ]

    operations = [migrations.RunSQL(CREATE, DROP)]
