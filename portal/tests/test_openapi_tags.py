"""Swagger UI and Redoc group the REST API by domain: every operation has exactly one declared tag."""

from collections import Counter

from django.conf import settings
from drf_spectacular.generators import SchemaGenerator

from core.api import tags

METHODS = {"get", "put", "patch", "post", "delete", "head", "options", "trace"}


def _operations() -> list[tuple[str, dict]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_every_operation_has_exactly_one_declared_tag():
    declared = [tag["name"] for tag in settings.SPECTACULAR_SETTINGS["TAGS"]]
    assert len(declared) == len(set(declared))
    assert all(tag["description"] for tag in settings.SPECTACULAR_SETTINGS["TAGS"])
    operations = _operations()
    assert len(operations) > 100
    wrong = {
        name: op.get("tags") for name, op in operations if len(op.get("tags", [])) != 1 or op["tags"][0] not in declared
    }
    assert wrong == {}
    used = Counter(op["tags"][0] for _, op in operations)
    assert set(used) == set(declared)  # no declared tag is left empty
    # No catch-all group: the biggest one holds a fifth of the operations at most.
    assert max(used.values()) <= len(operations) / 5, used


def test_tags_follow_the_domains():
    by_operation = {name: op["tags"][0] for name, op in _operations()}
    assert by_operation["GET /api/v1/me/"] == tags.ACCOUNT
    assert by_operation["POST /api/v1/tenants/"] == tags.ORGANISATIONS
    assert by_operation["POST /api/v1/tenants/{tenant_slug}/invitations/"] == tags.MEMBERS
    assert by_operation["POST /api/v1/tenants/{tenant_slug}/keys/{id}/rotate/"] == tags.KEYS
    assert by_operation["POST /api/v1/tenants/{tenant_slug}/provided-subscriptions/{id}/approve/"] == tags.SUBSCRIBERS
    assert by_operation["POST /api/v1/tenants/{tenant_slug}/apis/{api_slug}/plans/"] == tags.PLANS
    assert by_operation["GET /api/v1/tenants/{tenant_slug}/analytics/calls/{request_id}/"] == tags.ANALYTICS
    assert by_operation["GET /gateway/v1/config"] == tags.GATEWAY_PROTOCOL
    assert "tenants" not in by_operation.values()
