"""Every REST list endpoint: paginated, with a query count that does not grow with the data.

One table (``CASES``) names each list operation of the schema with a way to add ``n`` rows to
it; the first test refuses a list operation missing from the table, so a new list endpoint
gets its query-count check as soon as it appears. The cursor tests walk whole lists page by
page and tamper with cursors.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from apis.models import Api, ApiVersion, AuditEvent, Endpoint, Plan, VersionStatus, Visibility
from gateways.models import GatewayNode, IngestBatch, QuarantinedRecord
from notifications.models import Notification, Webhook, WebhookDelivery
from portal.tests.world import World, _record_call, build_world
from subscriptions.models import ApiKey, Application, Subscription, SubscriptionEvent, SubscriptionStatus
from tenants.models import Invitation, Membership, PersonalAccessToken, Tenant, User
from tenants.tests.factories import UserFactory

SMALL, LARGE = 3, 30


def _tag() -> str:
    return uuid.uuid4().hex[:10]


# --- Growers: add n rows to one list ----------------------------------------------------


def _tenants(w: World, n: int) -> None:
    tenants = Tenant.objects.bulk_create([Tenant(name=f"Org {t}", slug=f"org-{t}") for t in (_tag() for _ in range(n))])
    Membership.objects.bulk_create([Membership(tenant=t, user=w.alice.user, role="admin") for t in tenants])


def _my_invitations(w: World, n: int) -> None:
    tenants = Tenant.objects.bulk_create([Tenant(name=f"Org {t}", slug=f"org-{t}") for t in (_tag() for _ in range(n))])
    expires = timezone.now() + timedelta(days=7)
    Invitation.objects.bulk_create(
        [Invitation(tenant=t, email=w.alice.user.email, token_hash=_tag() * 6, expires_at=expires) for t in tenants]
    )


def _apis(w: World, n: int, visibility: str = Visibility.PRIVATE) -> list[Api]:
    return Api.objects.bulk_create(
        [
            Api(tenant=w.acme, name=f"API {t}", slug=f"api-{t}", visibility=visibility)
            for t in (_tag() for _ in range(n))
        ]
    )


def _catalog(w: World, n: int) -> None:
    apis = _apis(w, n, Visibility.PUBLIC)
    ApiVersion.objects.bulk_create(
        [
            ApiVersion(tenant=w.acme, api=a, label="v1", base_path=f"/{a.slug}/v1", status=VersionStatus.PUBLISHED)
            for a in apis
        ]
    )


def _members(w: World, n: int) -> None:
    users = User.objects.bulk_create([User(email=f"m-{_tag()}@example.com") for _ in range(n)])
    Membership.objects.bulk_create([Membership(tenant=w.acme, user=u, role="developer") for u in users])


def _invitations(w: World, n: int) -> None:
    expires = timezone.now() + timedelta(days=7)
    Invitation.objects.bulk_create(
        [
            Invitation(tenant=w.acme, email=f"i-{_tag()}@example.com", token_hash=_tag() * 6, expires_at=expires)
            for _ in range(n)
        ]
    )


def _tokens(w: World, n: int) -> None:
    users = User.objects.bulk_create([User(email=f"t-{_tag()}@example.com") for _ in range(n)])
    Membership.objects.bulk_create([Membership(tenant=w.acme, user=u, role="developer") for u in users])
    PersonalAccessToken.objects.bulk_create(
        [PersonalAccessToken(tenant=w.acme, user=u, name="ci", key_id=_tag(), token_hash=_tag() * 6) for u in users]
    )


def _audit(w: World, n: int, **target: Any) -> None:
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(tenant=w.acme, api=w.version.api, action="api.updated", actor=w.alice.user, **target)
            for _ in range(n)
        ]
    )


def _versions(w: World, n: int) -> None:
    ApiVersion.objects.bulk_create(
        [
            ApiVersion(tenant=w.acme, api=w.version.api, label=f"x{t}", base_path=f"/acme/x{t}")
            for t in (_tag() for _ in range(n))
        ]
    )


def _endpoints(w: World, n: int) -> None:
    Endpoint.objects.bulk_create(
        [Endpoint(tenant=w.acme, version=w.version, method="GET", path=f"/r/{_tag()}") for _ in range(n)]
    )


def _plans(w: World, n: int) -> None:
    Plan.objects.bulk_create([Plan(tenant=w.acme, api=w.version.api, name=f"Plan {_tag()}") for _ in range(n)])


def _subscriptions(w: World, n: int, *, provided: bool, waiting: bool = False) -> None:
    """n subscriptions, each of its own application and consumer, on Acme's or Initech's API."""
    template = w.provided_subscription if provided else w.subscription
    consumers = (
        Tenant.objects.bulk_create([Tenant(name=f"C {t}", slug=f"c-{t}") for t in (_tag() for _ in range(n))])
        if provided
        else [w.acme] * n
    )
    users = User.objects.bulk_create([User(email=f"s-{_tag()}@example.com") for _ in range(n)])
    applications = Application.objects.bulk_create([Application(tenant=c, name=f"App {_tag()}") for c in consumers])
    Subscription.objects.bulk_create(
        [
            Subscription(
                consumer_tenant=a.tenant,
                provider_tenant=template.provider_tenant,
                application=a,
                api=template.api,
                version=template.version,
                plan=template.plan,
                status=SubscriptionStatus.PENDING if waiting else SubscriptionStatus.ACTIVE,
                awaiting_since=timezone.now() if waiting else None,
                requested_by=u,
            )
            for a, u in zip(applications, users, strict=True)
        ]
    )


def _events(w: World, n: int, subscription: Subscription) -> None:
    SubscriptionEvent.objects.bulk_create(
        [
            SubscriptionEvent(
                consumer_tenant=subscription.consumer_tenant,
                provider_tenant=subscription.provider_tenant,
                subscription=subscription,
                plan=subscription.plan,
                actor=w.alice.user,
                actor_email="alice@acme.example",
                action="subscription.noted",
            )
            for _ in range(n)
        ]
    )


def _applications(w: World, n: int) -> None:
    users = User.objects.bulk_create([User(email=f"a-{_tag()}@example.com") for _ in range(n)])
    Application.objects.bulk_create([Application(tenant=w.acme, name=f"App {_tag()}", created_by=u) for u in users])


def _keys(w: World, n: int) -> None:
    applications = Application.objects.bulk_create([Application(tenant=w.acme, name=f"App {_tag()}") for _ in range(n)])
    keys = ApiKey.objects.bulk_create(
        [
            ApiKey(tenant=w.acme, application=a, name="k", key_id=_tag(), key_hash="0" * 64, created_by=w.alice.user)
            for a in applications
        ]
    )
    for old, new in zip(keys[::2], keys[1::2], strict=False):  # half of them rotated: replaced_by is shown
        old.replaced_by = new
    ApiKey.objects.for_tenant(w.acme).bulk_update(keys, ["replaced_by"])


def _notifications(w: World, n: int) -> None:
    Notification.objects.bulk_create(
        [Notification(tenant=w.acme, user=w.alice.user, kind="x", title=f"Hello {i}") for i in range(n)]
    )


def _webhooks(w: World, n: int) -> None:
    Webhook.objects.bulk_create(
        [
            Webhook(tenant=w.acme, url=f"https://hooks.acme.example/{i}", events=["key.*"], secret="s" * 32)
            for i in range(n)
        ]
    )


def _deliveries(w: World, n: int) -> None:
    WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(tenant=w.acme, webhook=w.webhook, event="webhook.test", payload={}) for _ in range(n)]
    )


def _nodes(w: World, n: int) -> None:
    GatewayNode.objects.bulk_create(
        [GatewayNode(name=f"node-{_tag()}", key_id=_tag(), token_hash="0") for _ in range(n)]
    )


def _batches(w: World, n: int) -> list[IngestBatch]:
    node = GatewayNode.objects.create(name=f"node-{_tag()}", key_id=_tag(), token_hash="0")
    return IngestBatch.objects.bulk_create([IngestBatch(node=node, batch_id=_tag()) for _ in range(n)])


def _quarantine(w: World, n: int) -> None:
    QuarantinedRecord.objects.bulk_create(
        [QuarantinedRecord(batch=b, node=b.node, line=1, reason="invalid_json") for b in _batches(w, n)]
    )


def _alert_rules(w: World, n: int) -> None:
    from alerts.models import AlertEvent, AlertRule

    rules = AlertRule.objects.bulk_create(
        [AlertRule(tenant=w.acme, scope="api", api=w.version.api, metric="error_rate", threshold=5) for _ in range(n)]
    )
    # Half of them firing: the state shown must not cost a query per row.
    AlertEvent.objects.bulk_create(
        [AlertEvent(rule=r, tenant=w.acme, fired_at=timezone.now(), fired_value=9, message="x") for r in rules[::2]]
    )


def _alert_events(w: World, n: int) -> None:
    from alerts.models import AlertEvent, AlertRule

    rule = AlertRule.objects.create(tenant=w.acme, scope="application", application=w.application,
                                    metric="refused_calls", threshold=1)  # fmt: skip
    AlertEvent.objects.bulk_create(
        [
            AlertEvent(rule=rule, tenant=w.acme, subject=f"s{i}", fired_at=timezone.now(), fired_value=3, message="x")
            for i in range(n)
        ]
    )


def _sso_domains(w: World, n: int) -> None:
    from sso.models import VerifiedDomain

    VerifiedDomain.objects.bulk_create(
        [VerifiedDomain(tenant=w.acme, domain=f"d{t}.acme.example", token=t) for t in (_tag() for _ in range(n))]
    )


def _sso_mappings(w: World, n: int) -> None:
    from sso.models import GroupRoleMapping, IdentityProvider

    provider, _ = IdentityProvider.objects.for_tenant(w.acme).get_or_create(
        tenant=w.acme, defaults={"key": w.acme.slug, "name": "Acme SSO"}
    )
    GroupRoleMapping.objects.bulk_create(
        [GroupRoleMapping(tenant=w.acme, provider=provider, group=f"g-{_tag()}", role="viewer") for _ in range(n)]
    )


def _calls(w: World, n: int) -> None:
    for _ in range(n):
        _record_call(w.version.api, w.application, w.key)


# --- The table ------------------------------------------------------------------------

T = "/api/v1/tenants/{tenant_slug}"
API = T + "/apis/{api_slug}"


@dataclass(frozen=True)
class ListCase:
    path: str  # the operation's path in the schema
    url: Callable[[World], str]
    grow: Callable[[World, int], None]
    staff: bool = False


# Prompts (llm): a template and its versions; the route they need is made once per world.


def _prompt_template(w: World) -> Any:
    from llm.models import ModelRoute, PromptTemplate

    route, _ = ModelRoute.objects.for_tenant(w.acme).get_or_create(tenant=w.acme, name="world-chat")
    template, _ = PromptTemplate.objects.for_tenant(w.acme).get_or_create(
        tenant=w.acme, slug="world-prompt", defaults={"name": "World prompt"}
    )
    return template, route


def _prompts(w: World, n: int) -> None:
    from llm.models import PromptTemplate

    PromptTemplate.objects.bulk_create(
        [PromptTemplate(tenant=w.acme, name=f"Prompt {t}", slug=f"prompt-{t}") for t in (_tag() for _ in range(n))]
    )


def _prompt_versions(w: World, n: int) -> None:
    from llm.models import PromptVersion

    template, route = _prompt_template(w)
    start = PromptVersion.objects.for_tenant(w.acme).filter(template=template).count()
    PromptVersion.objects.bulk_create(
        [
            PromptVersion(
                tenant=w.acme,
                template=template,
                number=start + i + 1,
                content_hash=_tag() * 6,
                messages=[{"role": "user", "content": "hi"}],
                route=route,
            )
            for i in range(n)
        ]
    )


def _prompt_versions_url(w: World) -> str:
    _prompt_template(w)
    return "/api/v1/tenants/acme/prompts/world-prompt/versions/"


# AI gateway (llm): the world's provider and model are made once per world, like the prompt's.


def _ai_provider(w: World) -> Any:
    from llm.models import ModelProvider

    provider, _ = ModelProvider.objects.for_tenant(w.acme).get_or_create(
        tenant=w.acme,
        slug="world-ai",
        defaults={"name": "World AI", "kind": "openai", "base_url": "https://ai.example"},
    )
    return provider


def _ai_model(w: World) -> Any:
    from llm.models import ProviderModel

    provider = _ai_provider(w)
    model, _ = ProviderModel.objects.for_tenant(w.acme).get_or_create(
        tenant=w.acme, provider=provider, model_id="world"
    )
    return model


def _ai_providers(w: World, n: int) -> None:
    from llm.models import ModelProvider, ProviderCredential, ProviderModel

    providers = ModelProvider.objects.bulk_create(
        [
            ModelProvider(tenant=w.acme, name=f"AI {t}", slug=f"ai-{t}", kind="openai", base_url="https://ai.example")
            for t in (_tag() for _ in range(n))
        ]
    )
    # Each with a credential and a model: the counts shown must not cost a query per row.
    ProviderCredential.objects.bulk_create(
        [
            ProviderCredential(tenant=w.acme, provider=p, label="main", secret_encrypted="x", secret_hint="sk-…")
            for p in providers
        ]
    )
    ProviderModel.objects.bulk_create([ProviderModel(tenant=w.acme, provider=p, model_id="m") for p in providers])


def _ai_credentials(w: World, n: int) -> None:
    from llm.models import ProviderCredential

    provider = _ai_provider(w)
    ProviderCredential.objects.bulk_create(
        [
            ProviderCredential(
                tenant=w.acme, provider=provider, label=f"key-{_tag()}", secret_encrypted="x", secret_hint="sk-…"
            )
            for _ in range(n)
        ]
    )


def _ai_credentials_url(w: World) -> str:
    return f"/api/v1/tenants/acme/ai/providers/{_ai_provider(w).pk}/credentials/"


def _ai_models(w: World, n: int) -> None:
    from llm.models import ModelPrice, ProviderModel

    provider = _ai_provider(w)
    models = ProviderModel.objects.bulk_create(
        [ProviderModel(tenant=w.acme, provider=provider, model_id=f"model-{_tag()}") for _ in range(n)]
    )
    # Each priced: the prices shown with a model come in one prefetch.
    ModelPrice.objects.bulk_create(
        [
            ModelPrice(
                tenant=w.acme, model=m, effective_from=date(2026, 1, 1), input_per_million=1, output_per_million=2
            )
            for m in models
        ]
    )


def _ai_prices(w: World, n: int) -> None:
    from llm.models import ModelPrice

    model = _ai_model(w)
    start = ModelPrice.objects.for_tenant(w.acme).filter(model=model).count()
    ModelPrice.objects.bulk_create(
        [
            ModelPrice(
                tenant=w.acme,
                model=model,
                effective_from=date(2020, 1, 1) + timedelta(days=start + i),
                input_per_million=1,
                output_per_million=2,
            )
            for i in range(n)
        ]
    )


def _ai_prices_url(w: World) -> str:
    return f"/api/v1/tenants/acme/ai/models/{_ai_model(w).pk}/prices/"


def _ai_routes(w: World, n: int) -> None:
    from llm.models import ModelRoute, RouteTarget

    model = _ai_model(w)
    routes = ModelRoute.objects.bulk_create([ModelRoute(tenant=w.acme, name=f"route-{_tag()}") for _ in range(n)])
    # Each with a target: targets (and their model and provider) come in one prefetch.
    RouteTarget.objects.bulk_create([RouteTarget(tenant=w.acme, route=r, model=model) for r in routes])


CASES = [
    ListCase("/api/v1/tenants/", lambda w: "/api/v1/tenants/", _tenants),
    ListCase("/api/v1/invitations/", lambda w: "/api/v1/invitations/", _my_invitations),
    ListCase("/api/v1/catalog/", lambda w: "/api/v1/catalog/", _catalog),
    ListCase(T + "/members/", lambda w: "/api/v1/tenants/acme/members/", _members),
    ListCase(T + "/invitations/", lambda w: "/api/v1/tenants/acme/invitations/?status=all", _invitations),
    ListCase(T + "/tokens/", lambda w: "/api/v1/tenants/acme/tokens/?all=true", _tokens),
    ListCase(T + "/apis/", lambda w: "/api/v1/tenants/acme/apis/", _apis),
    ListCase(T + "/prompts/", lambda w: "/api/v1/tenants/acme/prompts/", _prompts),
    ListCase(T + "/prompts/{prompt_slug}/versions/", _prompt_versions_url, _prompt_versions),
    ListCase(T + "/ai/providers/", lambda w: "/api/v1/tenants/acme/ai/providers/", _ai_providers),
    ListCase(T + "/ai/providers/{provider_pk}/credentials/", _ai_credentials_url, _ai_credentials),
    ListCase(T + "/ai/models/", lambda w: "/api/v1/tenants/acme/ai/models/", _ai_models),
    ListCase(T + "/ai/models/{id}/prices/", _ai_prices_url, _ai_prices),
    ListCase(T + "/ai/routes/", lambda w: "/api/v1/tenants/acme/ai/routes/", _ai_routes),
    ListCase(API + "/events/", lambda w: f"/api/v1/tenants/acme/apis/{w.api_slug}/events/", _audit),
    ListCase(API + "/versions/", lambda w: f"/api/v1/tenants/acme/apis/{w.api_slug}/versions/", _versions),
    ListCase(
        API + "/versions/{label}/endpoints/",
        lambda w: f"/api/v1/tenants/acme/apis/{w.api_slug}/versions/v1/endpoints/",
        _endpoints,
    ),
    ListCase(
        API + "/versions/{label}/history/",
        lambda w: f"/api/v1/tenants/acme/apis/{w.api_slug}/versions/v1/history/",
        lambda w, n: _audit(w, n, target_type="apiversion", target_id=w.version.pk),
    ),
    ListCase(API + "/plans/", lambda w: f"/api/v1/tenants/acme/apis/{w.api_slug}/plans/", _plans),
    ListCase(
        T + "/provided-subscriptions/",
        lambda w: "/api/v1/tenants/acme/provided-subscriptions/",
        lambda w, n: _subscriptions(w, n, provided=True),
    ),
    ListCase(
        T + "/provided-subscriptions/{id}/events/",
        lambda w: f"/api/v1/tenants/acme/provided-subscriptions/{w.provided_subscription.pk}/events/",
        lambda w, n: _events(w, n, w.provided_subscription),
    ),
    ListCase(
        T + "/subscriptions/",
        lambda w: "/api/v1/tenants/acme/subscriptions/",
        lambda w, n: _subscriptions(w, n, provided=False),
    ),
    ListCase(
        T + "/subscriptions/{id}/events/",
        lambda w: f"/api/v1/tenants/acme/subscriptions/{w.subscription.pk}/events/",
        lambda w, n: _events(w, n, w.subscription),
    ),
    ListCase(T + "/applications/", lambda w: "/api/v1/tenants/acme/applications/", _applications),
    ListCase(T + "/keys/", lambda w: "/api/v1/tenants/acme/keys/", _keys),
    ListCase(T + "/notifications/", lambda w: "/api/v1/tenants/acme/notifications/", _notifications),
    ListCase(T + "/webhooks/", lambda w: "/api/v1/tenants/acme/webhooks/", _webhooks),
    ListCase(
        T + "/webhooks/{id}/deliveries/",
        lambda w: f"/api/v1/tenants/acme/webhooks/{w.webhook.pk}/deliveries/",
        _deliveries,
    ),
    ListCase(T + "/sso/domains/", lambda w: "/api/v1/tenants/acme/sso/domains/", _sso_domains),
    ListCase(T + "/sso/group-mappings/", lambda w: "/api/v1/tenants/acme/sso/group-mappings/", _sso_mappings),
    ListCase(T + "/alerts/rules/", lambda w: "/api/v1/tenants/acme/alerts/rules/", _alert_rules),
    ListCase(T + "/alerts/events/", lambda w: "/api/v1/tenants/acme/alerts/events/", _alert_events),
    ListCase(
        T + "/analytics/calls/",
        lambda w: "/api/v1/tenants/acme/analytics/calls/?side=provider",
        _calls,
    ),
    ListCase(
        "/api/v1/platform/approvals/",
        lambda w: "/api/v1/platform/approvals/",
        lambda w, n: _subscriptions(w, n, provided=True, waiting=True),
        staff=True,
    ),
    ListCase("/api/v1/platform/tenants/", lambda w: "/api/v1/platform/tenants/", _tenants, staff=True),
    ListCase("/api/v1/platform/nodes/", lambda w: "/api/v1/platform/nodes/", _nodes, staff=True),
    ListCase("/api/v1/platform/quarantine/", lambda w: "/api/v1/platform/quarantine/", _quarantine, staff=True),
    ListCase("/api/v1/platform/log-batches/", lambda w: "/api/v1/platform/log-batches/", _batches, staff=True),
]


@pytest.fixture
def world(acme, globex, alice, charlie) -> World:
    return build_world(acme, globex, alice, charlie)


def _queries(api: Any, url: str) -> tuple[int, dict]:
    """The number of SQL queries one GET of ``url`` runs, and its JSON body."""
    count = 0

    def counter(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counter):
        response = api.get(url)
    assert response.status_code == 200, (url, response.content[:300])
    return count, response.json()


def _rows(body: dict) -> int:
    return len(body["results"])


def test_every_rest_list_operation_is_in_the_table(api, db):
    schema = api.get("/api/schema/?format=json").json()
    lists = set()
    for path, operations in schema["paths"].items():
        get = operations.get("get")
        if not get:
            continue
        content = get["responses"]["200"].get("content", {}).get("application/json", {})
        ref = content.get("schema", {}).get("$ref", "")
        if ref.rsplit("/", 1)[-1].startswith("Paginated") or ref.endswith("/CallPage"):
            lists.add(path)
        # No list answers a bare array: every one has a page envelope.
        assert content.get("schema", {}).get("type") != "array", path
    assert lists == {case.path for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.path.removeprefix("/api/v1/") for c in CASES])
def test_a_list_runs_the_same_queries_for_3_and_30_rows(case, world, api):
    api.force_authenticate(UserFactory(is_staff=True) if case.staff else world.alice.user)
    url = case.url(world)
    case.grow(world, SMALL)
    small, small_body = _queries(api, url)
    case.grow(world, LARGE - SMALL)
    large, large_body = _queries(api, url)
    assert _rows(large_body) >= _rows(small_body) + LARGE - SMALL, "the grower did not add rows to this list"
    assert large == small, f"{url}: {small} queries for {_rows(small_body)} rows, {large} for {_rows(large_body)}"


# --- Cursor pages -------------------------------------------------------------------------


def _pages(api: Any, url: str, direction: str = "next") -> list[list[int]]:
    """The ids of each page, following ``direction`` links from ``url`` to the end."""
    pages: list[list[int]] = []
    link: str | None = url
    while link:
        response = api.get(link)
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        assert "count" not in body  # a cursor list never counts: that would read the whole list
        pages.append([row["id"] for row in body["results"]])
        link = body[direction]
        assert len(pages) < 100
    return pages


def _walk(api: Any, url: str) -> list[int]:
    return [pk for page in _pages(api, url) for pk in page]


def test_cursor_pages_walk_the_whole_list_once_even_with_equal_timestamps(world, api):
    """Keys share created_at in threes (a bulk insert): the cursor still neither repeats nor skips one."""
    api.force_authenticate(world.alice.user)
    _keys(world, 24)
    moment = timezone.now()
    keys = list(ApiKey.objects.for_tenant(world.acme).order_by("id"))
    for index, key in enumerate(keys):
        key.created_at = moment - timedelta(seconds=index // 3)
    ApiKey.objects.for_tenant(world.acme).bulk_update(keys, ["created_at"])
    expected = list(ApiKey.objects.for_tenant(world.acme).order_by("-created_at", "-id").values_list("id", flat=True))

    seen = _walk(api, "/api/v1/tenants/acme/keys/?page_size=4")
    assert seen == expected and len(set(seen)) == len(keys)

    # …and back from the last page with the previous links.
    link, last = "/api/v1/tenants/acme/keys/?page_size=4", None
    while link:
        last, link = link, api.get(link).json()["next"]
    backwards = _pages(api, last, "previous")
    assert [pk for page in reversed(backwards) for pk in page] == expected


def test_the_approval_queue_pages_oldest_first(world, api):
    api.force_authenticate(world.alice.user)
    _subscriptions(world, 9, provided=True, waiting=True)
    expected = list(
        Subscription.objects.for_provider(world.acme)
        .awaiting_decision()
        .order_by("awaiting_since", "pk")
        .values_list("id", flat=True)
    )
    assert _walk(api, "/api/v1/tenants/acme/provided-subscriptions/?awaiting=true&page_size=2") == expected


def test_a_row_added_while_walking_is_neither_repeated_nor_shifts_the_rest(world, api):
    api.force_authenticate(world.alice.user)
    _notifications(world, 6)
    first = api.get("/api/v1/tenants/acme/notifications/?page_size=3").json()
    _notifications(world, 2)  # newer rows arrive on top while the client reads page 2
    rest = _walk(api, first["next"])
    ids = [row["id"] for row in first["results"]] + rest
    assert len(ids) == len(set(ids)) == 7  # the 6 + the world's one, each once


def _cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        _cursor("p=abc"),  # decodes, but no timestamp
        _cursor("p=2026-13-45 99:99:99"),
        _cursor("o=-1&p=2026-01-01"),
        _cursor("r=1&p=" + "9" * 400),
        "%00",
    ],
    ids=["garbage", "text-position", "bad-date", "negative-offset", "huge-position", "nul"],
)
def test_a_tampered_cursor_is_a_400_naming_the_cursor(world, api, cursor):
    api.force_authenticate(world.alice.user)
    for url in ("/api/v1/tenants/acme/keys/", "/api/v1/tenants/acme/provided-subscriptions/?awaiting=true"):
        sep = "&" if "?" in url else "?"
        response = api.get(url, {"cursor": cursor}) if cursor != "%00" else api.get(f"{url}{sep}cursor=%00")
        assert response.status_code == 400, (url, cursor, response.content[:300])
        error = response.json()["error"]
        # A NUL byte is refused before any view runs (the whole query string), the rest by the paginator.
        assert error["code"] == ("invalid_characters" if cursor == "%00" else "invalid_cursor"), error


def test_a_cursor_list_documents_its_cursor_and_no_count(api, db):
    schema = api.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/tenants/{tenant_slug}/keys/"]["get"]
    assert {"cursor", "page_size"} <= {p["name"] for p in operation["parameters"]}
    page = schema["components"]["schemas"]["PaginatedKeyList"]
    assert {"next", "previous", "results"} <= set(page["properties"]) and "count" not in page["properties"]
