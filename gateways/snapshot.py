"""The gateway config snapshot: everything a node needs to route and authorize calls on its own.

Built by ONE SQL statement (so the version and the data come from the same database
snapshot even under READ COMMITTED) that lets PostgreSQL assemble the JSON: no model
instance, no query per key or per version. The result is kept per config version in a small
in-process LRU, so repeated GETs and 304s cost one primary-key read of ``ConfigState``.

The rules mirror ``subscriptions.services.key_verify`` so a node and the verify endpoint
never disagree on allow / deny:

* routes: published and deprecated versions only (``apis.models.ROUTED_STATUSES``); the
  version serving a path is the one with the longest base path that is a prefix of the path
  on a segment boundary; none → ``unknown_route``.
* credentials: keys not revoked and not expired, plus keys revoked or expired in the last
  ``DEAD_KEY_WINDOW`` (flagged, so a node can say ``revoked`` / ``expired`` like verify
  does); older dead keys are absent (a node says ``unknown_key``: refused either way).
  A rotated key stays valid until ``grace_ends_at`` (its ``expires_at``); nodes compare
  ``expires_at`` with their clock, since expiry does not bump the version.
* keys of an organisation platform staff suspended are absent (``unknown_key``), like verify;
  suspending or lifting it bumps the version (a trigger on ``tenants_tenant.suspended_at``).
* restrictions (docs/subscriptions.md, "Key restrictions"): ``null`` for a key without any,
  else its client IP ranges (``cidrs``, canonical CIDR text; empty = anywhere), the APIs it
  may call (``api_ids``; empty = every API its application subscribes to) and its own
  ``rate_limit_per_minute`` (null = only the plan's). Changing them bumps the version
  (gateways migration 0007).
* subscriptions: the application's live ones (pending, active, suspended) on routed
  versions, each with its status; only ``active`` authorizes a call, on exactly its version.
  Their plan ``limits`` include the AI limits (tokens, USD cost budgets; null = none).
* AI (docs/ai-gateway.md): each route has a ``kind`` (rest / ai / prompt) and an ``ai``
  object (null for REST: the public model names of the version, or the prompt it publishes).
  The top-level ``ai`` section holds the model routes those versions use, their target
  models with prices (newest first) and the models' providers with their *enabled*
  credentials, decrypted here (``core.secretbox``): the only place a credential's plaintext
  leaves the portal, in this authenticated answer. Only what a routed version uses is sent.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from apis.models import ROUTED_STATUSES, Plan
from core import secretbox
from gateways.models import ConfigState
from llm.services.providers import CREDENTIAL_CONTEXT
from subscriptions.models import LIVE_STATUSES

logger = logging.getLogger(__name__)

#: Revoked / expired keys stay in the snapshot (flagged) this long, then drop out.
DEAD_KEY_WINDOW = "1 day"

_LIMITS = ", ".join(
    [f"'{name}', p.{name}" for name in (*Plan.LIMIT_FIELDS, *Plan.AI_LIMIT_FIELDS) if not name.startswith("cost_")]
    # USD budgets: exact numbers without the column's padding zeros (10, not 10.0000).
    + [f"'{name}', trim_scale(p.{name})" for name in Plan.AI_LIMIT_FIELDS if name.startswith("cost_")]
)
_ROUTED = ", ".join(f"'{status}'" for status in ROUTED_STATUSES)
_LIVE = ", ".join(f"'{status}'" for status in LIVE_STATUSES)

# Endpoint templates come from the version's OpenAPI document (apis_endpoint is filled from
# it when the spec is accepted), so nodes can name the endpoint of a call.
# Interpolated: module constants only, never input.
SNAPSHOT_SQL = f"""
WITH routed AS (
    SELECT v.id, v.api_id, v.tenant_id, v.label, v.base_path, v.kind, v.upstreams, v.status,
           v.connect_timeout_ms, v.read_timeout_ms, v.sunset_date
    FROM apis_apiversion v
    WHERE v.status IN ({_ROUTED})
),
surfaces AS (
    SELECT s.id, s.version_id, s.kind, s.prompt_version_id
    FROM llm_aisurface s
    JOIN routed r ON r.id = s.version_id
         AND ((r.kind = 'ai' AND s.kind = 'models') OR (r.kind = 'prompt' AND s.kind = 'prompt'))
),
surface_models AS (
    SELECT s.version_id, json_object_agg(t.slug || '/' || mr.name, mr.id ORDER BY mr.name) AS items
    FROM surfaces s
    JOIN llm_aisurface_routes sr ON sr.aisurface_id = s.id
    JOIN llm_modelroute mr ON mr.id = sr.modelroute_id
    JOIN tenants_tenant t ON t.id = mr.tenant_id
    WHERE s.kind = 'models'
    GROUP BY s.version_id
),
surface_prompts AS (
    SELECT s.version_id, json_build_object(
               'template_id', pv.template_id, 'version', pv.number, 'hash', pv.content_hash,
               'messages', pv.messages, 'variables', pv.variables, 'route', pv.route_id,
               'params', pv.params, 'response_mode', pv.response_mode, 'response_schema', pv.response_schema
           ) AS item
    FROM surfaces s JOIN llm_promptversion pv ON pv.id = s.prompt_version_id
    WHERE s.kind = 'prompt'
),
ai_routes AS (
    SELECT sr.modelroute_id AS id FROM surfaces s JOIN llm_aisurface_routes sr ON sr.aisurface_id = s.id
    WHERE s.kind = 'models'
    UNION
    SELECT pv.route_id FROM surfaces s JOIN llm_promptversion pv ON pv.id = s.prompt_version_id
    WHERE s.kind = 'prompt'
),
ai_models AS (
    SELECT DISTINCT rt.model_id AS id FROM llm_routetarget rt JOIN ai_routes ar ON ar.id = rt.route_id
),
endpoints AS (
    SELECT e.version_id,
           json_agg(json_build_object('method', e.method, 'path', e.path) ORDER BY e.path, e.method) AS items
    FROM apis_endpoint e JOIN routed r ON r.id = e.version_id
    GROUP BY e.version_id
),
subs AS (
    SELECT s.application_id,
           json_agg(json_build_object(
               'subscription_id', s.id, 'status', s.status, 'api_id', s.api_id,
               'api_version_id', s.version_id, 'plan_id', s.plan_id,
               'limits', json_build_object({_LIMITS})
           ) ORDER BY s.id) AS items
    FROM subscriptions_subscription s
    JOIN routed r ON r.id = s.version_id
    JOIN apis_plan p ON p.id = s.plan_id
    WHERE s.status IN ({_LIVE})
    GROUP BY s.application_id
),
key_apis AS (
    SELECT ka.apikey_id, json_agg(ka.api_id ORDER BY ka.api_id) AS items
    FROM subscriptions_apikey_allowed_apis ka
    GROUP BY ka.apikey_id
)
SELECT
    (SELECT version FROM gateways_configstate WHERE id = 1),
    coalesce((
        SELECT json_agg(json_build_object(
            'api_version_id', r.id, 'api_id', r.api_id, 'provider_tenant_id', r.tenant_id,
            'label', r.label, 'base_path', r.base_path, 'status', r.status, 'kind', r.kind,
            'upstreams', r.upstreams,
            'connect_timeout_ms', r.connect_timeout_ms, 'read_timeout_ms', r.read_timeout_ms,
            'sunset_date', CASE WHEN r.status = 'deprecated' THEN r.sunset_date END,
            'endpoints', coalesce(e.items, '[]'::json),
            'ai', CASE r.kind
                WHEN 'ai' THEN json_build_object('models', coalesce(sm.items, '{{}}'::json))
                WHEN 'prompt' THEN json_build_object('prompt', sp.item)
            END
        ) ORDER BY length(r.base_path) DESC, r.base_path)
        FROM routed r
        LEFT JOIN endpoints e ON e.version_id = r.id
        LEFT JOIN surface_models sm ON sm.version_id = r.id
        LEFT JOIN surface_prompts sp ON sp.version_id = r.id
    ), '[]'::json)::text,
    coalesce((
        SELECT json_object_agg(k.key_id, json_build_object(
            'key_hash', k.key_hash, 'application_id', k.application_id,
            'consumer_tenant_id', k.tenant_id,
            'expires_at', k.expires_at,
            'grace_ends_at', CASE WHEN k.rotated_at IS NOT NULL THEN k.expires_at END,
            'revoked', k.revoked_at IS NOT NULL,
            'subscriptions', coalesce(s.items, '[]'::json),
            'restrictions', CASE
                WHEN cardinality(k.allowed_cidrs) > 0 OR ka.items IS NOT NULL OR k.rate_limit_per_minute IS NOT NULL
                THEN json_build_object(
                    'cidrs', to_json(k.allowed_cidrs), 'api_ids', coalesce(ka.items, '[]'::json),
                    'rate_limit_per_minute', k.rate_limit_per_minute
                )
            END
        ) ORDER BY k.key_id)
        FROM subscriptions_apikey k
        JOIN tenants_tenant t ON t.id = k.tenant_id AND t.suspended_at IS NULL
        LEFT JOIN subs s ON s.application_id = k.application_id
        LEFT JOIN key_apis ka ON ka.apikey_id = k.id
        WHERE (k.revoked_at IS NULL OR k.revoked_at > now() - interval '{DEAD_KEY_WINDOW}')
          AND (k.expires_at IS NULL OR k.expires_at > now() - interval '{DEAD_KEY_WINDOW}')
    ), '{{}}'::json)::text,
    json_build_object(
        'providers', coalesce((
            SELECT json_object_agg(p.id, json_build_object(
                'slug', p.slug, 'kind', p.kind, 'base_url', p.base_url,
                'connect_timeout_ms', p.connect_timeout_ms, 'read_timeout_ms', p.read_timeout_ms,
                'credentials', coalesce((
                    SELECT json_agg(json_build_object(
                        'id', c.id, 'secret', c.secret_encrypted, 'priority', c.priority, 'weight', c.weight
                    ) ORDER BY c.priority, c.weight DESC, c.id)
                    FROM llm_providercredential c WHERE c.provider_id = p.id AND c.enabled
                ), '[]'::json)
            ) ORDER BY p.id)
            FROM llm_modelprovider p
            WHERE p.id IN (SELECT m.provider_id FROM llm_providermodel m JOIN ai_models am ON am.id = m.id)
        ), '{{}}'::json),
        'models', coalesce((
            SELECT json_object_agg(m.id, json_build_object(
                'provider_id', m.provider_id, 'model', m.model_id, 'capability', m.capability,
                'context_window', m.context_window,
                'prices', coalesce((
                    SELECT json_agg(json_build_object(
                        'from', pr.effective_from,
                        'input', trim_scale(pr.input_per_million)::text,
                        'output', trim_scale(pr.output_per_million)::text,
                        'cached_input', trim_scale(pr.cached_input_per_million)::text
                    ) ORDER BY pr.effective_from DESC)
                    FROM llm_modelprice pr WHERE pr.model_id = m.id
                ), '[]'::json)
            ) ORDER BY m.id)
            FROM llm_providermodel m JOIN ai_models am ON am.id = m.id
        ), '{{}}'::json),
        'routes', coalesce((
            SELECT json_object_agg(mr.id, json_build_object(
                'name', t.slug || '/' || mr.name, 'capability', mr.capability,
                'targets', coalesce((
                    SELECT json_agg(json_build_object(
                        'model_id', rt.model_id, 'position', rt.position, 'weight', rt.weight
                    ) ORDER BY rt.position, rt.id)
                    FROM llm_routetarget rt WHERE rt.route_id = mr.id
                ), '[]'::json)
            ) ORDER BY mr.id)
            FROM llm_modelroute mr JOIN ai_routes ar ON ar.id = mr.id JOIN tenants_tenant t ON t.id = mr.tenant_id
        ), '{{}}'::json)
    )::text
"""  # noqa: S608


@dataclass(frozen=True)
class Snapshot:
    """A built snapshot: its version and the JSON body, ready to send."""

    version: int
    body: bytes

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


def current_version() -> int:
    """The config version now (one primary-key read; the row is recreated if someone deleted it)."""
    found = ConfigState.objects.values_list("version", flat=True).filter(pk=1).first()
    return found if found is not None else ConfigState.objects.get_or_create(pk=1)[0].version


def build_snapshot() -> Snapshot:
    """Build the snapshot from the database, uncached (the benchmark times this)."""
    with connection.cursor() as cursor:
        cursor.execute(SNAPSHOT_SQL)
        version, routes, credentials, ai = cursor.fetchone()
    generated_at = timezone.now().isoformat().replace("+00:00", "Z")
    # PostgreSQL produced the JSON of the big parts; splicing them avoids a parse + re-dump.
    # The AI section is small (what routed AI versions use) and needs Python: decryption.
    body = (
        f'{{"version": {int(version)}, "generated_at": "{generated_at}", '
        f'"routes": {routes}, "credentials": {credentials}, "ai": {_open_secrets(ai)}}}'
    ).encode()
    return Snapshot(version=int(version), body=body)


def _open_secrets(ai_json: str) -> str:
    """The AI section with each credential's ciphertext replaced by its plaintext.

    A credential no configured key opens (its key was dropped from CREDENTIAL_ENCRYPTION_KEYS
    too early) is left out and logged by id, never by value: the pool's other keys still work.
    """
    ai = json.loads(ai_json)
    for provider_id, provider in ai["providers"].items():
        opened = []
        for credential in provider["credentials"]:
            try:
                credential["secret"] = secretbox.decrypt(credential["secret"], context=CREDENTIAL_CONTEXT)
            except secretbox.SecretBoxError as error:
                logger.error(
                    "snapshot: credential %s of provider %s left out: %s", credential["id"], provider_id, error
                )
                continue
            opened.append(credential)
        provider["credentials"] = opened
    return json.dumps(ai, separators=(", ", ": "), ensure_ascii=False)


class _Cache:
    """A few built snapshots per process, keyed by version (old versions are never asked twice)."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self.items: OrderedDict[int, Snapshot] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, version: int) -> Snapshot | None:
        with self.lock:
            found = self.items.get(version)
            if found is not None:
                self.items.move_to_end(version)
            return found

    def put(self, snapshot: Snapshot) -> None:
        with self.lock:
            self.items[snapshot.version] = snapshot
            self.items.move_to_end(snapshot.version)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


cache = _Cache()


def snapshot(version: int | None = None) -> Snapshot:
    """The snapshot of the current version (``version`` if the caller just read it): cached, or built once.

    Tests roll back their transactions, so a version number can come back with other data:
    the test suite clears this cache between tests (gateways/tests/conftest.py).
    """
    found = cache.get(current_version() if version is None else version)
    if found is not None:
        return found
    built = build_snapshot()
    cache.put(built)
    return built
