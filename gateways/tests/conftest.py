import pytest

#: The raw call table exactly as the issue 8 contract states it (intake's migration creates it
#: on main; until then the nodes page reads it through this fixture).
CALLRECORD_DDL = """
CREATE TABLE IF NOT EXISTS gateways_callrecord (
    request_id uuid NOT NULL, ts timestamptz NOT NULL, received_at timestamptz NOT NULL DEFAULT now(),
    node_id bigint NOT NULL, batch_id bigint, source varchar(16) NOT NULL,
    api_version_id bigint NULL, api_id bigint NULL, provider_tenant_id bigint NULL,
    endpoint varchar(300) NOT NULL DEFAULT '', method varchar(10) NOT NULL DEFAULT '',
    path varchar(2048) NOT NULL DEFAULT '', api_key_id bigint NULL, key_id varchar(24) NOT NULL DEFAULT '',
    application_id bigint NULL, consumer_tenant_id bigint NULL, plan_id bigint NULL, subscription_id bigint NULL,
    status smallint NOT NULL, latency_ms double precision NOT NULL DEFAULT 0, upstream_latency_ms double precision NULL,
    request_bytes bigint NOT NULL DEFAULT 0, response_bytes bigint NOT NULL DEFAULT 0, client_ip inet NULL,
    user_agent varchar(512) NOT NULL DEFAULT '', error varchar(64) NOT NULL DEFAULT '',
    ai_provider varchar(64) NOT NULL DEFAULT '', ai_model varchar(128) NOT NULL DEFAULT '',
    ai_input_tokens integer NULL, ai_output_tokens integer NULL, ai_cost numeric(18,8) NULL,
    PRIMARY KEY (request_id, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE IF NOT EXISTS gateways_callrecord_default PARTITION OF gateways_callrecord DEFAULT;
"""


@pytest.fixture(autouse=True)
def _config_row(db):
    """The ConfigState row comes from a migration; a transactional test's flush (with --reuse-db,
    even one of an earlier run) deletes it, and the triggers then have nothing to bump."""
    from gateways.models import ConfigState

    ConfigState.objects.get_or_create(pk=1)


@pytest.fixture(autouse=True)
def _fresh_snapshot_cache():
    """Tests roll back, so a config version number comes back with other data: forget built snapshots."""
    from gateways.snapshot import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def callrecord_table(db):
    """The raw call table (created inside the test's transaction when intake's migration is absent)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(CALLRECORD_DDL)


@pytest.fixture
def staff(db):
    from tenants.tests.factories import UserFactory

    return UserFactory(is_staff=True, email="ops@platform.example")


@pytest.fixture
def node_and_token(staff):
    from gateways import services

    return services.node_create(actor=staff, name="edge-1", description="Frankfurt")


@pytest.fixture
def node_api(node_and_token):
    """A DRF client speaking as the node."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {node_and_token[1]}")
    return client
