"""/platform/ at two data sizes: same number of queries; organisations and users paginated with totals."""

from __future__ import annotations

import itertools

import pytest
from django.urls import reverse

from core.tests.queries import assert_flat_queries
from tenants.models import Membership, Tenant, User
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db
_serial = itertools.count()


def _orgs(n):
    tenants = Tenant.objects.bulk_create(
        [Tenant(name=f"Org {(i := next(_serial)):05d}", slug=f"org-{i:05d}") for _ in range(n)]
    )
    users = User.objects.bulk_create([User(email=f"owner-{t.slug}@bulk.example") for t in tenants])
    Membership.objects.bulk_create(
        [Membership(tenant=t, user=u, role="owner") for t, u in zip(tenants, users, strict=True)]
    )


def test_platform_overview(client):
    staff = UserFactory(is_staff=True, email="ops@platform.example")
    _orgs(3)
    client.force_login(staff)
    assert_flat_queries(client, reverse("platform"), lambda: _orgs(3))  # the overview shows the newest
    _, page = assert_flat_queries(client, reverse("platform-tenants"), lambda: _orgs(24))
    assert "1–30 of 30" in page.content.decode()
    _, page = assert_flat_queries(client, reverse("platform-users"), lambda: _orgs(3))
    assert "1–34 of 34" in page.content.decode()  # 33 owners and the staff member


def test_platform_overview_pages(client):
    staff = UserFactory(is_staff=True, email="ops@platform.example")
    _orgs(70)
    client.force_login(staff)
    assert "51–70 of 70" in client.get(reverse("platform-tenants") + "?page=2").content.decode()
    assert "1–50 of 71" in client.get(reverse("platform-users")).content.decode()


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "1.5", "9" * 30, "", "²", "٣"])
def test_bad_page_numbers_are_never_a_500(client, raw):
    staff = UserFactory(is_staff=True, email="ops@platform.example")
    _orgs(3)
    client.force_login(staff)
    for url in (
        reverse("platform"),
        reverse("platform-tenants"),
        reverse("platform-users"),
        reverse("platform-apis"),
        reverse("platform-approvals"),
        reverse("platform-nodes"),
        reverse("platform-quarantine"),
        reverse("alerts:platform"),
        reverse("apis:catalog"),
    ):
        response = client.get(url, {"page": raw, "tenants_page": raw, "users_page": raw})
        assert response.status_code == 200, (url, raw)
