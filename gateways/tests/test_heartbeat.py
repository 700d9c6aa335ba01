"""POST /gateway/v1/heartbeat: a node reports its state and learns the current config version."""

from gateways.models import GatewayNode
from gateways.snapshot import current_version

URL = "/gateway/v1/heartbeat"
GOOD = {"software_version": "portal-gw/1.0.0", "applied_config_version": 3, "buffered_records": 12}


def test_heartbeat_is_stored_and_answers_the_config_version(node_api, node_and_token):
    response = node_api.post(URL, GOOD, format="json")
    assert response.status_code == 200 and response.json() == {"config_version": current_version()}
    node = GatewayNode.objects.get(pk=node_and_token[0].pk)
    assert (node.software_version, node.applied_config_version, node.buffered_records) == ("portal-gw/1.0.0", 3, 12)
    assert node.last_heartbeat_at is not None and node.last_seen_at is not None


def test_bad_heartbeats_are_400_in_the_error_shape(node_api, node_and_token):
    for body, field in [
        ({**GOOD, "buffered_records": -1}, "buffered_records"),
        ({**GOOD, "buffered_records": "many"}, "buffered_records"),
        ({**GOOD, "applied_config_version": 2**63}, "applied_config_version"),
        ({k: v for k, v in GOOD.items() if k != "software_version"}, "software_version"),
        ({**GOOD, "software_version": "x" * 101}, "software_version"),
        ({**GOOD, "software_version": "1.0\n2.0"}, "software_version"),
    ]:
        response = node_api.post(URL, body, format="json")
        assert response.status_code == 400, body
        assert field in response.json()["error"]["fields"], response.json()
    broken = node_api.post(URL, "{not json", content_type="application/json")
    assert broken.status_code == 400 and "error" in broken.json()
    assert GatewayNode.objects.get(pk=node_and_token[0].pk).last_heartbeat_at is None


def test_heartbeat_needs_an_active_node_token(api, staff, alice, node_and_token):
    assert api.post(URL, GOOD, format="json").status_code == 401
    api.force_login(staff)
    assert api.post(URL, GOOD, format="json").status_code == 401
    api.logout()
    from gateways import services

    services.node_revoke(actor=staff, node=node_and_token[0])
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {node_and_token[1]}")
    response = api.post(URL, GOOD, format="json")
    assert response.status_code == 401 and response.json()["error"]["code"] == "authentication_failed"
    assert response["WWW-Authenticate"].startswith("Bearer")
