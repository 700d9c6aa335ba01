"""Reads about the catalog, shared by web views and the REST API.

Provider-side reads take the provider ``tenant`` and scope with ``for_tenant``; catalog
reads take the viewer (a user, or None for an anonymous visitor) and scope with
``visible_to``, the one place that decides who sees what across providers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import BooleanField, Count, ExpressionWrapper, F, Func, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Lower

from apis.models import Api, ApiVersion, AuditEvent, Endpoint, Plan, PlanStatus, VersionStatus, Visibility
from core.errors import NotFound
from tenants.models import Membership, Tenant

SEARCH_CONFIG = "english"
CATALOG_SORTS = {
    "relevance": "Relevance",
    "name": "Name",
    "recent": "Recently updated",
    "provider": "Provider",
}


def search_apis(qs: QuerySet[Api], q: str) -> QuerySet[Api]:
    """Full-text search over name, tags, summary, description; substring on name/slug as well.

    websearch syntax ("quoted phrase", -exclude, or) is what people type into search boxes.
    The substring match is served by trigram indexes (``pg_trgm``, migration 0007) on the
    upper-cased name and slug, which is what ``icontains`` compares: no scan of every API,
    and still correct for one- and two-letter queries (which pg_trgm answers from the index
    without trigrams to narrow by).
    """
    query = SearchQuery(q, search_type="websearch", config=SEARCH_CONFIG)
    return qs.filter(Q(search_vector=query) | Q(name__icontains=q) | Q(slug__icontains=q)).annotate(
        rank=SearchRank(F("search_vector"), query)
    )


# --- Provider side ---------------------------------------------------------------------


def _count_of(model: Any, **filters: Any) -> Coalesce:
    """A correlated COUNT per API row: cheaper than COUNT(DISTINCT) over joined versions × plans."""
    rows = model.objects.unscoped().filter(api=OuterRef("pk"), **filters).order_by().values("api")
    return Coalesce(Subquery(rows.annotate(n=Count("pk")).values("n")), 0)


def tenant_apis(tenant: Tenant, *, q: str = "", visibility: str = "", tag: str = "", status: str = "") -> QuerySet[Api]:
    """The provider's own APIs with version and plan counts, for lists (name order)."""
    qs = (
        Api.objects.for_tenant(tenant)
        .defer("description", "description_html", "search_vector")
        .annotate(
            version_count=_count_of(ApiVersion),
            live_version_count=_count_of(ApiVersion, status__in=[VersionStatus.PUBLISHED, VersionStatus.DEPRECATED]),
            plan_count=_count_of(Plan),
        )
        .order_by("name", "pk")
    )
    if visibility:
        qs = qs.filter(visibility=visibility)
    if tag:
        qs = qs.filter(tags__contains=[tag.lower()])
    if status:
        qs = qs.filter(pk__in=ApiVersion.objects.for_tenant(tenant).filter(status=status).values("api_id"))
    if q:
        qs = search_apis(qs, q.strip()).order_by("-rank", "name", "pk")
    return qs


def api_for_tenant(tenant: Tenant, slug: str) -> Api:
    api = Api.objects.for_tenant(tenant).filter(slug=slug).first()
    if api is None:
        raise NotFound("No such API.")
    return api


def api_versions(api: Api) -> QuerySet[ApiVersion]:
    # Meta.ordering does not apply to aggregated queries, so order explicitly (stable pagination).
    return (
        ApiVersion.objects.for_tenant(api.tenant_id)
        .filter(api=api)
        .annotate(endpoint_count=Count("endpoints"))
        .order_by("-created_at", "-id")
    )


def version_for(api: Api, label: str) -> ApiVersion:
    version = ApiVersion.objects.for_tenant(api.tenant_id).select_related("api").filter(api=api, label=label).first()
    if version is None:
        raise NotFound("No such version.")
    return version


def version_rows(api: Api) -> QuerySet[ApiVersion]:
    """The API page's versions table: no OpenAPI document nor rendered notes, only whether there is one."""
    return (
        ApiVersion.objects.for_tenant(api.tenant_id)
        .filter(api=api)
        .only("id", "tenant_id", "api_id", "label", "status", "sunset_date", "base_path", "upstreams", "created_at")
        .annotate(
            endpoint_count=Coalesce(
                Subquery(
                    Endpoint.objects.unscoped()
                    .filter(version=OuterRef("pk"))
                    .order_by()
                    .values("version")
                    .annotate(n=Count("pk"))
                    .values("n")
                ),
                0,
            ),
            has_spec=ExpressionWrapper(Q(spec__isnull=False), output_field=BooleanField()),
        )
        .order_by("-created_at", "-id")
    )


def version_endpoints(version: ApiVersion) -> QuerySet[Endpoint]:
    return Endpoint.objects.for_tenant(version.tenant_id).filter(version=version).order_by("path", "method", "pk")


def api_plans(api: Api, *, status: str = "") -> QuerySet[Plan]:
    qs = Plan.objects.for_tenant(api.tenant_id).filter(api=api)
    return qs.filter(status=status) if status else qs


def plan_for(api: Api, pk: int | str) -> Plan:
    plan = Plan.objects.for_tenant(api.tenant_id).select_related("api").filter(api=api, pk=pk).first()
    if plan is None:
        raise NotFound("No such plan.")
    return plan


def api_events(api: Api) -> QuerySet[AuditEvent]:
    """The API's changelog: every recorded change to it, its versions and its plans."""
    return (
        AuditEvent.objects.for_tenant(api.tenant_id)
        .filter(api=api)
        .select_related("actor")
        .order_by("-created_at", "-id")
    )


def version_events(version: ApiVersion) -> QuerySet[AuditEvent]:
    """The version history: creation, spec uploads, lifecycle transitions."""
    return (
        AuditEvent.objects.for_tenant(version.tenant_id)
        .filter(target_type=ApiVersion._meta.model_name, target_id=version.pk)
        .order_by("-created_at", "-id")
    )


# --- Catalog (consumer side) -----------------------------------------------------------


def viewer_tenant_ids(user: Any) -> list[int]:
    if user is None or not user.is_authenticated:
        return []
    return list(Membership.objects.for_user(user).values_list("tenant_id", flat=True))


def catalog_apis(
    user: Any,
    *,
    tenant_ids: list[int] | None = None,
    q: str = "",
    tag: str = "",
    provider: str = "",
    sort: str = "",
) -> QuerySet[Api]:
    """What the viewer may see, searched, filtered and sorted."""
    return catalog_filter(
        catalog_visible(user, tenant_ids=tenant_ids),
        q=q,
        tag=tag,
        provider=provider,
        sort=sort,
    )


def featured_apis(limit: int = 6) -> list[Api]:
    """A few public APIs with a published version, most recently updated first: the home page."""
    published = ApiVersion.objects.unscoped().filter(status=VersionStatus.PUBLISHED).values("api_id")
    return list(
        Api.objects.visible_to(None)
        .filter(visibility=Visibility.PUBLIC, pk__in=published)
        .select_related("tenant")
        .order_by("-updated_at", "pk")[:limit]
    )


def catalog_visible(user: Any, *, tenant_ids: list[int] | None = None) -> QuerySet[Api]:
    """Every API the viewer may see, before search and filters."""
    return Api.objects.visible_to(user, tenant_ids=tenant_ids).select_related("tenant")


def catalog_filter(
    qs: QuerySet[Api], *, q: str = "", tag: str = "", provider: str = "", sort: str = ""
) -> QuerySet[Api]:
    """Search, filter and sort a catalog queryset (``sort`` one of CATALOG_SORTS, or empty)."""
    if tag:
        qs = qs.filter(tags__contains=[tag.strip().lower()])
    if provider:
        qs = qs.filter(tenant__slug=provider.strip())
    q = q.strip()
    if q:
        qs = search_apis(qs, q)
    if sort == "relevance" and q:
        return qs.order_by("-rank", Lower("name"))
    if sort == "recent":
        return qs.order_by("-updated_at", "pk")
    if sort == "provider":
        return qs.order_by(Lower("tenant__name"), Lower("name"))
    if q and sort not in CATALOG_SORTS:
        return qs.order_by("-rank", Lower("name"))
    return qs.order_by(Lower("name"), "pk")


def catalog_api(user: Any, provider_slug: str, api_slug: str, *, tenant_ids: list[int] | None = None) -> Api:
    """One API, or NotFound (404) when it does not exist *or* the viewer may not see it."""
    api = (
        Api.objects.visible_to(user, tenant_ids=tenant_ids)
        .select_related("tenant")
        .filter(tenant__slug=provider_slug, slug=api_slug)
        .first()
    )
    if api is None:
        raise NotFound("No such API.")
    return api


def is_provider_member(api: Api, tenant_ids: list[int]) -> bool:
    return api.tenant_id in tenant_ids


def catalog_versions(api: Api, *, member: bool) -> QuerySet[ApiVersion]:
    """Versions a viewer sees, newest first: drafts only for the provider's own members."""
    qs = ApiVersion.objects.for_tenant(api.tenant_id).filter(api=api).annotate(endpoint_count=Count("endpoints"))
    return qs if member else qs.listed()


def catalog_version(api: Api, label: str, *, member: bool) -> ApiVersion:
    version = catalog_versions(api, member=member).select_related("api", "tenant").filter(label=label).first()
    if version is None:
        raise NotFound("No such version.")
    return version


def default_version(versions: Sequence[ApiVersion]) -> ApiVersion | None:
    """The version whose docs a visitor sees first: the newest published, then deprecated, then any."""
    order = [VersionStatus.PUBLISHED, VersionStatus.DEPRECATED, VersionStatus.DRAFT, VersionStatus.RETIRED]
    for status in order:
        for version in versions:
            has_spec = getattr(version, "has_spec", None)
            if version.status == status and (has_spec if has_spec is not None else version.spec is not None):
                return version
    return versions[0] if versions else None


def catalog_plans(api: Api, *, member: bool) -> QuerySet[Plan]:
    """Plans offered to consumers (active, public); the provider's members also see hidden ones."""
    qs = Plan.objects.for_tenant(api.tenant_id).filter(api=api)
    return qs.filter(status=PlanStatus.ACTIVE) if member else qs.offered()


#: The most tags and providers the catalog's filter menus list (the most used first).
FACET_LIMIT = 200


def catalog_facets(
    user: Any, *, tenant_ids: list[int] | None = None, selected_tag: str = "", selected_provider: str = ""
) -> dict[str, list[Any]]:
    """Tags and providers present in what the viewer may see, for the filter dropdowns.

    Two grouped queries, each bounded to the ``FACET_LIMIT`` entries with the most APIs (then
    listed by name); the current selection is always listed, so the menu can show it.
    """
    visible = Api.objects.visible_to(user, tenant_ids=tenant_ids).order_by()
    tag_rows = (
        visible.annotate(tag=Func(F("tags"), function="unnest"))
        .values("tag")
        .annotate(n=Count("pk"))
        .order_by("-n", "tag")
        .values_list("tag", flat=True)[:FACET_LIMIT]
    )
    tags = sorted({*tag_rows, *([selected_tag] if selected_tag else [])})
    provider_rows = (
        visible.values("tenant_id")
        .annotate(n=Count("pk"))
        .order_by("-n", "tenant_id")
        .values_list("tenant_id", flat=True)[:FACET_LIMIT]
    )
    providers = list(
        Tenant.objects.filter(
            Q(pk__in=list(provider_rows))
            | Q(pk__in=visible.filter(tenant__slug=selected_provider or None).values("tenant_id")[:1])
        )
        .order_by("name", "slug")
        .values_list("slug", "name")
    )
    return {"tags": tags, "providers": providers}


# --- Platform staff ----------------------------------------------------------------------


def platform_apis() -> QuerySet[Api]:
    """Every provider's APIs, whatever their visibility (platform staff only), by name."""
    # Staff cross tenants on purpose here.
    return Api.objects.unscoped().select_related("tenant").order_by("name", "pk")


def tenant_audit_events(tenant: Tenant) -> QuerySet[AuditEvent]:
    """The provider's catalog trail, newest first."""
    return AuditEvent.objects.for_tenant(tenant).order_by("-created_at", "-id")
