"""Staff register gateway nodes (web, REST, command); tokens are shown once and stored hashed."""

import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F
from django.utils import timezone

from gateways.auth import node_authenticate
from gateways.models import ConfigState, GatewayNode

URL = "/api/v1/platform/nodes/"


# --- Web -----------------------------------------------------------------------------


def test_staff_register_a_node_on_the_page_and_see_its_token_once(client, staff):
    client.force_login(staff)
    posted = client.post("/platform/nodes/", {"name": "edge-eu-1", "description": "Frankfurt"})
    assert posted.status_code == 302 and posted["Location"] == "/platform/nodes/"  # POST/redirect/GET
    response = client.get("/platform/nodes/")
    assert "no-store" in response["Cache-Control"]
    node = GatewayNode.objects.get(name="edge-eu-1")
    body = response.content.decode()
    token = body.split('id="token-value">')[1].split("<")[0]
    assert token.startswith(f"gwn_{node.key_id}_") and node_authenticate(token) == node
    assert token.split("_")[2] not in node.token_hash  # only a hash is stored
    page = client.get("/platform/nodes/").content.decode()
    assert "edge-eu-1" in page and token not in page


def test_the_page_refuses_a_duplicate_name_with_the_form(client, staff, node_and_token):
    client.force_login(staff)
    response = client.post("/platform/nodes/", {"name": "edge-1"})
    assert response.status_code == 409
    assert "exists already" in response.content.decode()


def test_rotate_and_revoke_on_the_page(client, staff, node_and_token):
    node, token = node_and_token
    client.force_login(staff)
    response = client.post(f"/platform/nodes/{node.pk}/rotate/", follow=True)
    assert response.redirect_chain == [("/platform/nodes/", 302)] and "no-store" in response["Cache-Control"]
    new = response.content.decode().split('id="token-value">')[1].split("<")[0]
    assert node_authenticate(token) is None and node_authenticate(new) == node
    assert client.post(f"/platform/nodes/{node.pk}/revoke/").status_code == 302
    assert node_authenticate(new) is None
    assert "revoked" in client.get("/platform/nodes/").content.decode()


def test_non_staff_cannot_see_or_use_the_nodes_page(client, alice, node_and_token):
    node, _ = node_and_token
    assert client.get("/platform/nodes/").status_code == 302  # anonymous: to the login
    client.force_login(alice)
    assert client.get("/platform/nodes/").status_code == 302  # not staff: to the admin login
    assert client.post("/platform/nodes/", {"name": "sneaky"}).status_code == 302
    assert client.post(f"/platform/nodes/{node.pk}/revoke/").status_code == 302
    assert not GatewayNode.objects.filter(name="sneaky").exists()
    node.refresh_from_db()
    assert node.revoked_at is None


def test_the_page_shows_health_traffic_and_flags_silent_nodes(client, staff, settings):
    from django.db import connection

    from gateways import services

    settings.GATEWAY_NODE_SILENT_SECONDS = 120
    quiet, _ = services.node_create(actor=staff, name="quiet")
    busy, _ = services.node_create(actor=staff, name="busy")
    now = timezone.now()
    GatewayNode.objects.filter(pk=quiet.pk).update(last_seen_at=now - timedelta(minutes=5))
    GatewayNode.objects.filter(pk=busy.pk).update(
        last_seen_at=now,
        last_heartbeat_at=now,
        software_version="portal-gw/1.2.3",
        applied_config_version=1,
        buffered_records=17,
    )
    rows = [
        (uuid.uuid4(), now - timedelta(minutes=m), busy.pk, status)
        for m, status in [(1, 200), (2, 200), (3, 503), (4, 429), (90, 500)]
    ]  # the last one is older than an hour
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO gateways_callrecord (request_id, ts, node_id, source, status) "
            "VALUES (%s, %s, %s, 'native', %s)",
            rows,
        )
    ConfigState.objects.filter(pk=1).update(version=F("version") + 5)  # the node is behind
    client.force_login(staff)
    page = client.get("/platform/nodes/").content.decode()
    quiet_row = page.split('data-node="quiet"')[1].split("</tr>")[0]
    busy_row = page.split('data-node="busy"')[1].split("</tr>")[0]
    assert "silent" in quiet_row and "silent" not in busy_row
    assert "portal-gw/1.2.3" in busy_row and ">17<" in busy_row and "behind" in busy_row
    assert '<td class="text-end calls">4</td>' in busy_row and '<td class="text-end errors">2</td>' in busy_row

    data = {n["name"]: n for n in _staff_api(staff).get(URL).json()["results"]}
    assert data["quiet"]["silent"] is True and data["busy"]["silent"] is False
    assert (data["busy"]["calls_last_hour"], data["busy"]["errors_last_hour"]) == (4, 2)
    assert data["quiet"]["calls_last_hour"] == 0


# --- REST ----------------------------------------------------------------------------


def _staff_api(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


def test_rest_create_shows_the_token_once(staff):
    api = _staff_api(staff)
    response = api.post(URL, {"name": "edge-2", "description": "Paris"}, format="json")
    assert response.status_code == 201 and "no-store" in response["Cache-Control"]
    created = response.json()
    assert node_authenticate(created["token"]).pk == created["id"]
    detail = api.get(f"{URL}{created['id']}/").json()
    assert "token" not in detail and detail["name"] == "edge-2" and detail["active"] is True
    assert all("token" not in n for n in api.get(URL).json()["results"])


def test_rest_validates_in_the_error_shape(staff, node_and_token):
    api = _staff_api(staff)
    bad = api.post(URL, {"name": ""}, format="json")
    assert bad.status_code == 400 and "name" in bad.json()["error"]["fields"]
    dup = api.post(URL, {"name": "edge-1"}, format="json")
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "already_exists"
    assert api.get(f"{URL}999999/").status_code == 404


def test_rest_rotate_and_revoke(staff, node_and_token):
    node, token = node_and_token
    api = _staff_api(staff)
    rotated = api.post(f"{URL}{node.pk}/rotate/")
    assert rotated.status_code == 201 and "no-store" in rotated["Cache-Control"]
    assert node_authenticate(token) is None and node_authenticate(rotated.json()["token"]) == node
    revoked = api.post(f"{URL}{node.pk}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert node_authenticate(rotated.json()["token"]) is None
    again = api.post(f"{URL}{node.pk}/rotate/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "node_revoked"


def test_rest_is_staff_only(api, alice, node_and_token):
    node, token = node_and_token
    assert api.get(URL).status_code == 401
    api.force_authenticate(alice)
    for response in (
        api.get(URL),
        api.get(f"{URL}{node.pk}/"),
        api.post(URL, {"name": "x"}, format="json"),
        api.post(f"{URL}{node.pk}/revoke/"),
    ):
        assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    api.force_authenticate(None)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")  # a node is not staff either
    assert api.get(URL).status_code in (401, 403)


# --- Command -------------------------------------------------------------------------


def _call(*args):
    out, err = StringIO(), StringIO()
    call_command("gateway_node", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_create_rotate_revoke_list(db):
    out, err = _call("create", "edge-cli", "--description", "from the shell")
    token = out.strip()
    node = GatewayNode.objects.get(name="edge-cli")
    assert node.description == "from the shell" and node_authenticate(token) == node
    assert "shown only now" in err
    out, _ = _call("rotate", "edge-cli")
    assert node_authenticate(token) is None and node_authenticate(out.strip()) == node
    node.refresh_from_db()
    listing, _ = _call("list")
    assert "edge-cli" in listing and node.key_id in listing and token not in listing
    _call("revoke", "edge-cli")
    assert node_authenticate(out.strip()) is None
    assert "revoked" in _call("list")[0]
    with pytest.raises(CommandError, match="No gateway node"):
        _call("revoke", "nope")
    with pytest.raises(CommandError, match="exists already"):
        _call("create", "edge-cli")


def test_command_issue_registers_a_missing_node_then_rotates_its_token(db):
    """./run's node gets a fresh token at every start: the first registers it, later ones rotate."""
    first, _ = _call("issue", "local-node")
    node = GatewayNode.objects.get(name="local-node")
    assert node_authenticate(first.strip()) == node
    second, _ = _call("issue", "local-node")
    assert node_authenticate(first.strip()) is None  # the previous run's token stops at once
    assert node_authenticate(second.strip()) == node
    assert GatewayNode.objects.filter(name="local-node").count() == 1
    _call("revoke", "local-node")
    with pytest.raises(CommandError, match="revoked node cannot get a new token"):
        _call("issue", "local-node")
