"""POST /api/v1/keys/verify/: node tokens accepted, the longest base path wins, unknown_route."""

import pytest

from apis.models import ApiVersion, VersionStatus
from subscriptions import services
from subscriptions.tests.factories import ApplicationFactory, make_catalog, membership

URL = "/api/v1/keys/verify/"


@pytest.fixture
def world(acme, alice, globex, charlie):
    catalog = make_catalog(acme)
    # A second API whose base path extends the first one's: /acme/orders/v1/admin.
    admin = make_catalog(acme, slug="admin")
    ApiVersion.objects.unscoped().filter(pk=admin.v1.pk).update(base_path="/acme/orders/v1/admin")
    app = ApplicationFactory(tenant=globex)
    consumer = membership(charlie, globex)
    services.subscription_request(actor=consumer, application=app, plan=catalog.free)
    _key, plaintext = services.key_create(actor=consumer, application=app, name="prod")
    return {"catalog": catalog, "admin": admin, "plaintext": plaintext}


def test_a_node_verifies_by_full_path_with_the_longest_base_path(node_api, world):
    catalog, admin, key = world["catalog"], world["admin"], world["plaintext"]
    ok = node_api.post(URL, {"key": key, "path": "/acme/orders/v1/orders/7"}, format="json")
    assert ok.status_code == 200 and ok.json()["allowed"] is True
    assert ok.json()["api_version_id"] == catalog.v1.pk and ok.json()["limits"]["rate_limit_per_second"] == 5
    exact = node_api.post(URL, {"key": key, "path": "/acme/orders/v1"}, format="json").json()
    assert exact["allowed"] is True
    # The longer base path serves its own subtree: the key has no subscription there.
    deeper = node_api.post(URL, {"key": key, "path": "/acme/orders/v1/admin/users"}, format="json").json()
    assert deeper["allowed"] is False and deeper["reason"] == "no_subscription"
    assert deeper["api_version_id"] == admin.v1.pk
    # Segment boundaries: /acme/orders/v1admin is not under /acme/orders/v1.
    for path in ("/acme/orders/v1admin/x", "/acme/orders", "/", "/nowhere/at/all"):
        verdict = node_api.post(URL, {"key": key, "path": path}, format="json").json()
        assert verdict["reason"] == "unknown_route", path
    # Drafts and retired versions serve no path.
    for version in (catalog.v2_draft, catalog.v0_retired):
        verdict = node_api.post(URL, {"key": key, "path": f"{version.base_path}/orders"}, format="json").json()
        assert verdict["reason"] == "unknown_route"


def test_base_path_still_works(node_api, world):
    key, catalog = world["plaintext"], world["catalog"]
    assert node_api.post(URL, {"key": key, "base_path": "/acme/orders/v1"}, format="json").json()["allowed"]
    retired = node_api.post(URL, {"key": key, "base_path": catalog.v0_retired.base_path}, format="json").json()
    assert retired["reason"] == "api_retired"
    assert node_api.post(URL, {"key": key, "base_path": "/nope"}, format="json").json()["reason"] == "unknown_route"


def test_a_query_string_and_trailing_slash_do_not_change_the_route(node_api, world):
    verdict = node_api.post(URL, {"key": world["plaintext"], "path": "/acme/orders/v1/orders/?page=2"}, format="json")
    assert verdict.json()["allowed"] is True


def test_bad_input_is_400(node_api, world):
    response = node_api.post(URL, {"key": world["plaintext"]}, format="json")
    assert response.status_code == 400 and "path" in response.json()["error"]["fields"]
    assert node_api.post(URL, {"key": "k", "path": "/" + "a" * 3000}, format="json").status_code == 400


def test_who_may_ask(api, alice, staff, node_and_token, world):
    body = {"key": world["plaintext"], "path": "/acme/orders/v1/orders"}
    assert api.post(URL, body, format="json").status_code == 401
    api.force_authenticate(alice)
    assert api.post(URL, body, format="json").status_code == 403
    api.force_authenticate(staff)
    assert api.post(URL, body, format="json").json()["allowed"] is True
    api.force_authenticate(None)
    from gateways import services as node_services

    node_services.node_revoke(actor=staff, node=node_and_token[0])
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {node_and_token[1]}")
    assert api.post(URL, body, format="json").status_code == 401


def test_verify_and_the_snapshot_agree(node_api, world):
    """The snapshot routes exactly the versions verify routes (published / deprecated)."""
    routed = {r["base_path"] for r in node_api.get("/gateway/v1/config").json()["routes"]}
    assert routed == set(
        ApiVersion.objects.unscoped()
        .filter(status__in=[VersionStatus.PUBLISHED, VersionStatus.DEPRECATED])
        .values_list("base_path", flat=True)
    )
