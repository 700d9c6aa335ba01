"""Temporary copies of the contract's DDL (raw call table, rollup tables) for the tests.

Used only until the intake and rollups branches (which own these tables and their migrations)
are merged; every statement is ``IF NOT EXISTS`` so it is a no-op once they are.
"""

RAW = """
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
CREATE INDEX IF NOT EXISTS gateways_callrecord_provider_ts ON gateways_callrecord (provider_tenant_id, ts);
CREATE INDEX IF NOT EXISTS gateways_callrecord_consumer_ts ON gateways_callrecord (consumer_tenant_id, ts);
CREATE INDEX IF NOT EXISTS gateways_callrecord_ts ON gateways_callrecord (ts);
"""

_ROLLUP = """
CREATE TABLE IF NOT EXISTS {table} (
    id bigserial PRIMARY KEY, bucket timestamptz NOT NULL,
    provider_tenant_id bigint NULL, api_id bigint NULL, api_version_id bigint NULL,
    endpoint varchar(300) NOT NULL DEFAULT '', consumer_tenant_id bigint NULL,
    application_id bigint NULL, api_key_id bigint NULL, plan_id bigint NULL,
    status smallint NOT NULL, error varchar(64) NOT NULL DEFAULT '', node_id bigint NULL,
    calls bigint NOT NULL DEFAULT 0, errors_4xx bigint NOT NULL DEFAULT 0, errors_5xx bigint NOT NULL DEFAULT 0,
    request_bytes bigint NOT NULL DEFAULT 0, response_bytes bigint NOT NULL DEFAULT 0,
    latency_sum double precision NOT NULL DEFAULT 0, latency_hist bigint[] NOT NULL,
    upstream_latency_sum double precision NOT NULL DEFAULT 0, upstream_count bigint NOT NULL DEFAULT 0,
    upstream_hist bigint[] NOT NULL, ai_input_tokens bigint NOT NULL DEFAULT 0,
    ai_output_tokens bigint NOT NULL DEFAULT 0, ai_cost numeric(20,8) NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS {table}_bucket ON {table} (bucket);
CREATE INDEX IF NOT EXISTS {table}_provider ON {table} (provider_tenant_id, bucket);
CREATE INDEX IF NOT EXISTS {table}_consumer ON {table} (consumer_tenant_id, bucket);
"""

ROLLUPS = "".join(_ROLLUP.format(table=t) for t in ("analytics_rollupminute", "analytics_rolluphour", "analytics_rollupday"))
