"""Members, invitations and tokens at two data sizes: same number of queries, paginated with a total."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.tests.queries import assert_flat_queries
from tenants.models import Invitation, Membership, PersonalAccessToken, User

pytestmark = pytest.mark.django_db
_serial = itertools.count()


def _members(tenant, n):
    users = User.objects.bulk_create([User(email=f"member{next(_serial):05d}@bulk.example") for _ in range(n)])
    Membership.objects.bulk_create([Membership(tenant=tenant, user=u, role="viewer") for u in users])


def _invitations(tenant, n):
    later = timezone.now() + timedelta(days=3)
    Invitation.objects.bulk_create(
        [
            Invitation(
                tenant=tenant,
                email=f"invitee{(i := next(_serial)):05d}@bulk.example",
                token_hash=f"h{i:063d}",
                expires_at=later,
            )
            for _ in range(n)
        ]
    )


def test_members_page(client, alice, acme):
    _members(acme, 3)
    _invitations(acme, 3)
    client.force_login(alice)
    url = reverse("tenants:members", args=[acme.slug])
    _, page = assert_flat_queries(client, url, lambda: (_members(acme, 27), _invitations(acme, 27)))
    html = page.content.decode()
    assert html.count("@bulk.example") >= 60
    assert "1–31 of 31" in html  # members: Alice and 30 others
    assert "1–30 of 30" in html  # invitations


def test_members_page_two(client, alice, acme):
    _members(acme, 60)
    client.force_login(alice)
    url = reverse("tenants:members", args=[acme.slug])
    html = client.get(url + "?page=2").content.decode()
    assert "51–61 of 61" in html
    assert client.get(url + "?page=-1&invitations_page=x").status_code == 200


def test_tokens_page(client, alice, acme):
    def grow(n):
        PersonalAccessToken.objects.bulk_create(
            [
                PersonalAccessToken(tenant=acme, user=alice, name=f"token {i}", key_id=f"t{i:08d}", token_hash="x")
                for i in [next(_serial) for _ in range(n)]
            ]
        )

    grow(3)
    client.force_login(alice)
    url = reverse("tenants:tokens", args=[acme.slug])
    _, page = assert_flat_queries(client, url, lambda: grow(27))
    assert "1–30 of 30" in page.content.decode()
