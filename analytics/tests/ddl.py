"""Temporary copy of the contract's rollup-table DDL for the tests.

Used only until the rollups branch (which owns these tables and their migrations) is merged; every statement is ``IF NOT EXISTS`` so it is a no-op once they are.
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
