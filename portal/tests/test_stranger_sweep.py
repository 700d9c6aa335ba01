"""Generated from the URL configuration: every tenant-scoped URL is a 404 for a stranger.

Each URL pattern whose kwargs name a tenant (``slug`` on the web, ``tenant_slug`` under
/api/v1/, ``slug`` of the tenant detail endpoint) is requested with every method as Charlie,
who belongs to Globex only: with a session and, on REST, with a Globex personal access token.

1. The victim's slug and the victim's object ids: 404.
2. Charlie's own slug with the victim's object ids: 404 for every routed method (the id must
   not resolve across tenants, and is resolved before the request body is validated).

A URL added later is swept automatically; if its kwargs name something the victim world below
does not provide, ``test_every_tenant_url_can_be_filled`` fails and says what to add.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from alerts import services as alert_services
from alerts.models import AlertEvent, AlertRule
from llm.models import ModelProvider, ModelRoute, PromptTemplate, PromptVersion, ProviderCredential, ProviderModel
from llm.services import prompts as prompt_services
from llm.services import providers as ai_providers
from llm.services import routes as ai_routes
from portal.tests.world import World, build_world
from sso import services as sso_services
from sso.models import GroupRoleMapping, VerifiedDomain

TENANT_KWARGS = {"slug", "tenant_slug"}
WEB_METHODS = ("get", "post")
REST_METHODS = ("get", "post", "put", "patch", "delete")

#: Which victim object a ``pk`` means, by URL name prefix (the first match wins).
PK_OBJECTS = {
    "tenants:member-": "bob",
    "tenants:invitation-": "invitation",
    "tenants:token-": "token",
    "subscriptions:application": "application",
    "analytics:app": "application",
    "subscriptions:key-": "application",
    "console:": "application",
    "sso:domain-": "sso_domain",
    "sso:mapping-": "sso_mapping",
    "subscriptions:subscription": "subscription",
    "notifications:webhook": "webhook",
    "apis:plan-": "plan",
    "api:member-": "bob",
    "api:invitation-": "invitation",
    "api:token-": "token",
    "api:api-plan-": "plan",
    "api:application-": "application",
    "api:subscription-": "subscription",
    "api:provided-subscription-": "provided_subscription",
    "api:key-": "key",
    "api:notification-": "notification",
    "api:webhook-": "webhook",
    "api:sso-domain-": "sso_domain",
    "api:sso-group-mapping-": "sso_mapping",
    # AI gateway (llm): "llm:model-create" is under a provider, so it comes before "llm:model".
    "llm:provider": "ai_provider",
    "llm:credential-": "ai_provider",
    "llm:model-create": "ai_provider",
    "llm:model": "ai_model",
    "llm:price-": "ai_model",
    "llm:route": "ai_route",
    "api:ai-provider-": "ai_provider",
    "api:ai-credential-": "ai_credential",
    "api:ai-model-": "ai_model",
    "api:ai-route-": "ai_route",
    # Alerts: a rule on Acme's API with one incident.
    "alerts:rule": "alert_rule",
    "api:alert-rule-": "alert_rule",
    "api:alert-event-": "alert_event",
}
#: Values of the other kwargs (verbs are real ones, so the view would act if it let us in).
OTHER_KWARGS = {
    "api_slug": lambda w: w.api_slug,
    "label": lambda w: w.version.label,
    "key_pk": lambda w: w.key.pk,
    "verb": lambda w: "cancel",
    "action": lambda w: "archive",
    "request_id": lambda w: w.call_request_id,
    "provider_pk": lambda w: w.ai_provider.pk,
    "credential_pk": lambda w: w.ai_credential.pk,
    "prompt_slug": lambda w: w.prompt.slug,
    "number": lambda w: w.prompt_version.number,
}
#: URL names where ``action`` is a version transition rather than a plan action.
VERSION_ACTION = {"apis:version-transition": "deprecate"}


@dataclass(frozen=True)
class TenantUrl:
    name: str
    kwargs: tuple[str, ...]
    #: HTTP methods the router maps (REST viewsets); empty for web views.
    routed: tuple[str, ...] = ()

    @property
    def is_rest(self) -> bool:
        return self.name.startswith("api:")


def _walk(patterns: list, namespace: str = "", kwargs: tuple[str, ...] = ()) -> Iterator[TenantUrl]:
    for pattern in patterns:
        names = kwargs + tuple(pattern.pattern.regex.groupindex)
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}:{pattern.namespace}".strip(":") if pattern.namespace else namespace
            yield from _walk(pattern.url_patterns, inner, names)
        elif isinstance(pattern, URLPattern) and TENANT_KWARGS & set(names):
            assert pattern.name, f"{pattern.pattern} is tenant-scoped but has no name to reverse"
            routed = tuple(getattr(pattern.callback, "actions", {}) or ())
            yield TenantUrl(f"{namespace}:{pattern.name}".strip(":"), names, routed)


TENANT_URLS = sorted(set(_walk(get_resolver().url_patterns)), key=lambda url: url.name)


def _pk_object(name: str) -> str | None:
    return next((obj for prefix, obj in PK_OBJECTS.items() if name.startswith(prefix)), None)


def _kwargs(url: TenantUrl, world: World, slug: str) -> dict[str, object]:
    values: dict[str, object] = {}
    for kwarg in url.kwargs:
        if kwarg in TENANT_KWARGS:
            values[kwarg] = slug
        elif kwarg == "pk":
            values[kwarg] = getattr(world, _pk_object(url.name) or "").pk
        elif kwarg == "action" and url.name in VERSION_ACTION:
            values[kwarg] = VERSION_ACTION[url.name]
        else:
            values[kwarg] = OTHER_KWARGS[kwarg](world)
    return values


def test_every_tenant_url_can_be_filled() -> None:
    """Fails when a new tenant URL names something the victim world does not provide."""
    assert len(TENANT_URLS) > 80, "the URL walk found suspiciously few tenant URLs"
    unfillable = [
        f"{url.name}: {kwarg}"
        for url in TENANT_URLS
        for kwarg in url.kwargs
        if not (
            kwarg in TENANT_KWARGS
            or (kwarg == "pk" and _pk_object(url.name))
            or kwarg in OTHER_KWARGS
            or (kwarg == "action" and url.name in VERSION_ACTION)
        )
    ]
    assert not unfillable, f"add the victim's object for these URL kwargs to PK_OBJECTS/OTHER_KWARGS: {unfillable}"


@dataclass
class SweepWorld(World):
    """The shared world, plus Acme's AI gateway objects (a provider with a key, a priced model,
    a route to it, a prompt with a version)."""

    ai_provider: ModelProvider
    ai_credential: ProviderCredential
    ai_model: ProviderModel
    ai_route: ModelRoute
    prompt: PromptTemplate
    prompt_version: PromptVersion
    sso_domain: VerifiedDomain
    sso_mapping: GroupRoleMapping
    alert_rule: AlertRule
    alert_event: AlertEvent


def build_sweep_world(acme, globex, alice, charlie) -> SweepWorld:
    world = build_world(acme, globex, alice, charlie)
    actor = world.alice
    provider = ai_providers.provider_create(
        actor=actor, name="OpenAI", slug="openai", kind="openai", base_url="https://api.openai.com/v1"
    )
    credential = ai_providers.credential_create(
        actor=actor, provider=provider, label="main", secret="sk-victim-0123456789abcdef"
    )
    model = ai_providers.model_create(
        actor=actor,
        provider=provider,
        model_id="gpt-4o-mini",
        price={"input_per_million": "0.15", "output_per_million": "0.60", "effective_from": "2025-01-01"},
    )
    route = ai_routes.route_create(actor=actor, name="chat-small", targets=[{"model": model.pk}])
    prompt = prompt_services.prompt_template_create(actor=actor, name="Summarise", slug="summarise")
    version = prompt_services.prompt_version_save(
        actor=actor,
        template=prompt,
        messages=[{"role": "user", "content": "Summarise: {{text}}"}],
        variables=[{"name": "text", "type": "string", "required": True}],
        route=route,
    ).version
    sso_provider = sso_services.provider_save(
        actor=actor,
        data=sso_services.ProviderInput(
            kind="oidc", name="Acme SSO", server_url="https://login.acme.example", client_id="c", client_secret="s"
        ),
    )
    sso_domain = sso_services.domain_add(actor=actor, domain="acme.example")
    sso_mapping = sso_services.mapping_add(actor=actor, group="admins", role="admin")
    assert sso_provider.tenant == acme
    alert_rule = alert_services.rule_create(actor=actor, api=world.version.api, metric="error_rate", threshold=5)
    alert_event = AlertEvent.objects.create(
        rule=alert_rule, tenant=acme, fired_at=timezone.now(), fired_value=9, message="Orders failing"
    )
    return SweepWorld(
        **vars(world),
        ai_provider=provider,
        ai_credential=credential,
        ai_model=model,
        ai_route=route,
        prompt=prompt,
        prompt_version=version,
        sso_domain=sso_domain,
        sso_mapping=sso_mapping,
        alert_rule=alert_rule,
        alert_event=alert_event,
    )


@pytest.fixture
def world(acme, globex, alice, charlie) -> SweepWorld:
    return build_sweep_world(acme, globex, alice, charlie)


def _sweep(client: object, world: World, slug: str, *, rest_only: bool = False, **headers: str) -> list[str]:
    """Request every tenant URL with every method; return what did not answer 404."""
    wrong = []
    for url in TENANT_URLS:
        if rest_only and not url.is_rest:
            continue
        kwargs = _kwargs(url, world, slug)
        if slug == world.globex.slug and set(kwargs) <= TENANT_KWARGS:
            continue  # Charlie's own tenant without victim ids: his to see
        path = reverse(url.name, kwargs=kwargs)
        methods = REST_METHODS if url.is_rest else WEB_METHODS
        if slug == world.globex.slug and url.routed:
            # In his own tenant Charlie may learn that a method is not routed (405): that says
            # nothing about the victim. Every routed method must still 404 on the victim's ids.
            methods = url.routed
        for method in methods:
            response = getattr(client, method)(path, **headers)
            if response.status_code == 405 and slug == world.globex.slug and not url.is_rest:
                continue  # a web view that takes POST only says so for any id of his own tenant
            if response.status_code != 404:
                wrong.append(f"{method.upper()} {path} ({url.name}) → {response.status_code}")
    return wrong


def test_stranger_session_gets_404_everywhere(api, world: World) -> None:
    api.force_login(world.charlie.user)
    wrong = _sweep(api, world, world.acme.slug) + _sweep(api, world, world.globex.slug)
    assert not wrong, "\n".join(wrong)


def test_stranger_token_gets_404_everywhere(api, world: World) -> None:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {world.charlie_token}"}
    wrong = _sweep(api, world, world.acme.slug, rest_only=True, **auth)
    wrong += _sweep(api, world, world.globex.slug, rest_only=True, **auth)
    assert not wrong, "\n".join(wrong)


def test_the_victim_objects_exist_and_are_reachable_by_their_owner(client, world: World) -> None:
    """Guards the sweep itself: with the owner's session the same URLs do not 404."""
    client.force_login(world.alice.user)
    names = (
        "subscriptions:application",
        "notifications:webhook",
        "apis:version",
        "subscriptions:subscription",
        "llm:provider",
        "llm:model",
        "llm:route",
        "prompts:version",
        "alerts:rule",
    )
    for name in names:
        url = next(url for url in TENANT_URLS if url.name == name)
        assert client.get(reverse(name, kwargs=_kwargs(url, world, world.acme.slug))).status_code == 200, name
