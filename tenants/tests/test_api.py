import pytest
from django.core import mail

from tenants.models import Invitation, Membership, PersonalAccessToken, Tenant
from tenants.tests.factories import UserFactory, sign_in


def test_error_shape_for_anonymous(api, db):
    response = api.get("/api/v1/me/")
    assert response.status_code in (401, 403)
    assert response.json() == {
        "error": {
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
            "fields": {},
        }
    }


def test_unknown_api_path_is_json_404(api, db):
    response = api.get("/api/v1/nope/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_me(api, alice):
    api.force_authenticate(alice)
    data = api.get("/api/v1/me/").json()
    assert data["email"] == "alice@acme.example"
    assert data["memberships"] == [{"tenant": "acme", "tenant_name": "Acme Logistics", "role": "owner"}]
    assert api.patch("/api/v1/me/", {"name": "Alice A."}, format="json").json()["name"] == "Alice A."


def test_create_list_update_delete_tenant(api, db):
    user = UserFactory()
    api.force_authenticate(user)
    response = api.post("/api/v1/tenants/", {"name": "Initech", "slug": "initech"}, format="json")
    assert response.status_code == 201
    assert response.json() == {
        "slug": "initech",
        "name": "Initech",
        "created_at": response.json()["created_at"],
        "role": "owner",
        "suspended_at": None,
        "suspension_reason": "",
    }
    listing = api.get("/api/v1/tenants/").json()
    assert [t["slug"] for t in listing["results"]] == ["initech"]
    assert api.patch("/api/v1/tenants/initech/", {"name": "Initrode"}, format="json").json()["name"] == "Initrode"
    refused = api.delete("/api/v1/tenants/initech/")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "reauthentication_required"
    sign_in(api, user)
    assert api.delete("/api/v1/tenants/initech/").status_code == 204
    assert not Tenant.objects.filter(slug="initech").exists()


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"name": "X"}, "slug", "This field is required."),
        ({"name": "X", "slug": "admin"}, "slug", "reserved"),
        ({"name": "", "slug": "ok"}, "name", "may not be blank"),
        ({"name": "X", "slug": "acme"}, "slug", "already taken"),
    ],
)
def test_create_tenant_bad_input(api, acme, payload, field, message):
    api.force_authenticate(UserFactory())
    response = api.post("/api/v1/tenants/", payload, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert message in " ".join(error["fields"][field])
    assert field in error["message"] or message in error["message"]


def test_malformed_json_is_400(api, alice):
    api.force_authenticate(alice)
    response = api.post("/api/v1/tenants/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_roles_on_tenant_endpoints(api, alice, bob, vera):
    api.force_authenticate(vera)
    assert api.patch("/api/v1/tenants/acme/", {"name": "V"}, format="json").status_code == 403
    assert api.delete("/api/v1/tenants/acme/").status_code == 403
    api.force_authenticate(bob)
    assert api.delete("/api/v1/tenants/acme/").status_code == 403
    assert Tenant.objects.filter(slug="acme", name="Acme Logistics").exists()


def test_it_checks_ownership_everywhere(api, acme, alice, charlie, django_capture_on_commit_callbacks):
    api.force_authenticate(alice)
    with django_capture_on_commit_callbacks(execute=True):
        invitation_id = api.post("/api/v1/tenants/acme/invitations/", {"email": "z@example.com"}, format="json").json()[
            "id"
        ]
    member_id = Membership.objects.for_tenant(acme).get(user=alice).pk
    token_id = api.post("/api/v1/tenants/acme/tokens/", {"name": "t"}, format="json").json()["id"]
    api.force_authenticate(charlie)
    for method, url in [
        ("get", "/api/v1/tenants/acme/"),
        ("patch", "/api/v1/tenants/acme/"),
        ("delete", "/api/v1/tenants/acme/"),
        ("post", "/api/v1/tenants/acme/leave/"),
        ("get", "/api/v1/tenants/acme/members/"),
        ("get", f"/api/v1/tenants/acme/members/{member_id}/"),
        ("patch", f"/api/v1/tenants/acme/members/{member_id}/"),
        ("delete", f"/api/v1/tenants/acme/members/{member_id}/"),
        ("get", "/api/v1/tenants/acme/invitations/"),
        ("post", "/api/v1/tenants/acme/invitations/"),
        ("post", f"/api/v1/tenants/acme/invitations/{invitation_id}/revoke/"),
        ("post", f"/api/v1/tenants/acme/invitations/{invitation_id}/resend/"),
        ("get", "/api/v1/tenants/acme/tokens/"),
        ("post", "/api/v1/tenants/acme/tokens/"),
        ("post", f"/api/v1/tenants/acme/tokens/{token_id}/revoke/"),
        # and through his own tenant, other tenants' object ids are unknown
        ("get", f"/api/v1/tenants/globex/members/{member_id}/"),
        ("post", f"/api/v1/tenants/globex/invitations/{invitation_id}/revoke/"),
        ("post", f"/api/v1/tenants/globex/tokens/{token_id}/revoke/"),
    ]:
        response = getattr(api, method)(url, {"role": "viewer", "name": "x", "email": "q@example.com"}, format="json")
        assert response.status_code == 404, (method, url, response.status_code)
        assert response.json()["error"]["code"] == "not_found"
    assert Invitation.objects.for_tenant(acme).get().status == "pending"
    assert PersonalAccessToken.objects.for_tenant(acme).get().revoked_at is None
    assert Membership.objects.for_tenant(acme).count() == 1


def test_members_api(api, acme, alice, bob):
    api.force_authenticate(alice)
    members = api.get("/api/v1/tenants/acme/members/").json()
    assert members["count"] == 2
    assert {m["email"]: m["role"] for m in members["results"]} == {
        "alice@acme.example": "owner",
        "bob@acme.example": "developer",
    }
    bob_id = next(m["id"] for m in members["results"] if m["email"] == "bob@acme.example")
    assert api.patch(f"/api/v1/tenants/acme/members/{bob_id}/", {"role": "admin"}, format="json").json()["role"] == (
        "admin"
    )
    response = api.patch(f"/api/v1/tenants/acme/members/{bob_id}/", {"role": "king"}, format="json")
    assert response.status_code == 400
    assert "role" in response.json()["error"]["fields"]
    alice_id = next(m["id"] for m in members["results"] if m["email"] == "alice@acme.example")
    sign_in(api, alice)  # demoting an owner needs a recent sign-in
    response = api.patch(f"/api/v1/tenants/acme/members/{alice_id}/", {"role": "viewer"}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "last_owner"
    response = api.post("/api/v1/tenants/acme/leave/")
    assert response.status_code == 409
    assert api.delete(f"/api/v1/tenants/acme/members/{bob_id}/").status_code == 204


def test_members_pagination(api, acme, alice):
    from tenants.tests.factories import MembershipFactory

    for _ in range(4):
        MembershipFactory(tenant=acme)
    api.force_authenticate(alice)
    page = api.get("/api/v1/tenants/acme/members/?page_size=2").json()
    assert page["count"] == 5 and len(page["results"]) == 2 and page["next"]
    assert api.get("/api/v1/tenants/acme/members/?page=99").status_code == 404


def test_invitation_flow_over_the_api(api, acme, alice, django_capture_on_commit_callbacks):
    api.force_authenticate(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/tenants/acme/invitations/", {"email": "Dora@Example.com", "role": "admin"}, format="json"
        )
    assert response.status_code == 201
    assert response.json()["email"] == "dora@example.com" and response.json()["status"] == "pending"
    token = mail.outbox[-1].body.split("/invitations/")[1].split("/")[0]

    dora = UserFactory(email="dora@example.com")
    api.force_authenticate(dora)
    assert [i["tenant"] for i in api.get("/api/v1/invitations/").json()["results"]] == ["acme"]
    response = api.post("/api/v1/invitations/accept/", {"token": token}, format="json")
    assert response.status_code == 201 and response.json()["role"] == "admin"
    response = api.post("/api/v1/invitations/accept/", {"token": token}, format="json")
    assert response.status_code == 410 and response.json()["error"]["code"] == "invitation_used"
    response = api.post("/api/v1/invitations/accept/", {"token": "nope"}, format="json")
    assert response.status_code == 404 and response.json()["error"]["code"] == "invitation_invalid"
    response = api.post("/api/v1/invitations/accept/", {}, format="json")
    assert response.status_code == 400 and "token" in response.json()["error"]["fields"]


def test_invitation_list_resend_revoke(api, alice, bob, django_capture_on_commit_callbacks):
    api.force_authenticate(alice)
    with django_capture_on_commit_callbacks(execute=True):
        invitation = api.post("/api/v1/tenants/acme/invitations/", {"email": "e@example.com"}, format="json").json()
        resent = api.post(f"/api/v1/tenants/acme/invitations/{invitation['id']}/resend/").json()
    assert resent["sent_count"] == 2 and len(mail.outbox) == 2
    assert api.post(f"/api/v1/tenants/acme/invitations/{invitation['id']}/revoke/").json()["status"] == "revoked"
    response = api.post(f"/api/v1/tenants/acme/invitations/{invitation['id']}/revoke/")
    assert response.status_code == 409
    assert api.get("/api/v1/tenants/acme/invitations/").json()["count"] == 0
    assert api.get("/api/v1/tenants/acme/invitations/?status=all").json()["count"] == 1
    response = api.post("/api/v1/tenants/acme/invitations/", {"email": "nope"}, format="json")
    assert response.status_code == 400 and "email" in response.json()["error"]["fields"]
    api.force_authenticate(bob)
    assert api.get("/api/v1/tenants/acme/invitations/").status_code == 403


def test_tokens_api(api, alice):
    api.force_authenticate(alice)
    response = api.post(
        "/api/v1/tenants/acme/tokens/", {"name": "deploy", "expires_at": "2099-01-01T00:00:00Z"}, format="json"
    )
    assert response.status_code == 201
    created = response.json()
    assert created["token"].startswith(f"pat_{created['key_id']}_")
    listed = api.get("/api/v1/tenants/acme/tokens/").json()["results"]
    assert listed[0]["name"] == "deploy" and "token" not in listed[0]
    assert api.get(f"/api/v1/tenants/acme/tokens/{created['id']}/").json()["status"] == "active"
    # the new token works, and can create and revoke tokens of its own
    api.force_authenticate(None)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {created['token']}")
    assert api.get("/api/v1/tenants/acme/tokens/").status_code == 200
    response = api.post("/api/v1/tenants/", {"name": "Other", "slug": "other"}, format="json")
    assert response.status_code == 403
    assert api.post(f"/api/v1/tenants/acme/tokens/{created['id']}/revoke/").json()["status"] == "revoked"
    assert api.get("/api/v1/tenants/acme/tokens/").status_code == 401
    api.credentials()
    api.force_authenticate(alice)
    response = api.post("/api/v1/tenants/acme/tokens/", {"name": "", "expires_at": "yesterday"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"name", "expires_at"}


def test_schema_and_docs_are_served_offline(client, db):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v1/tenants/{tenant_slug}/tokens/" in text and "personalAccessToken" in text
    assert "Error:" in text
    docs = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs
    assert "cdn" not in docs.lower()
    assert client.get("/api/redoc/").status_code == 200
