import pytest

from tenants.models import Invitation, Membership, PersonalAccessToken
from tenants.scoping import TenantScopeError


def test_unscoped_queryset_refuses_to_run(alice, charlie):
    with pytest.raises(TenantScopeError, match="without a tenant scope"):
        list(Membership.objects.all())
    with pytest.raises(TenantScopeError):
        Membership.objects.filter(role="owner").count()
    with pytest.raises(TenantScopeError):
        Membership.objects.exists()
    with pytest.raises(TenantScopeError):
        Membership.objects.filter(role="owner").first()
    with pytest.raises(TenantScopeError):
        Membership.objects.update(role="viewer")
    with pytest.raises(TenantScopeError):
        PersonalAccessToken.objects.all().delete()
    with pytest.raises(TenantScopeError):
        Invitation.objects.get(pk=1)
    # nothing was changed by the refused update
    assert set(Membership.objects.unscoped().values_list("role", flat=True)) == {"owner"}


def test_for_tenant_sees_only_that_tenant(acme, globex, alice, charlie):
    acme_members = list(Membership.objects.for_tenant(acme))
    assert [m.user for m in acme_members] == [alice]
    # the scope survives chaining
    assert Membership.objects.for_tenant(globex).filter(role="owner").get().user == charlie


def test_for_tenant_none_is_an_error(db):
    with pytest.raises(TenantScopeError, match="needs a tenant"):
        Membership.objects.for_tenant(None)


def test_user_scope_crosses_tenants_for_own_memberships(acme, globex, alice):
    from tenants.tests.factories import MembershipFactory

    MembershipFactory(tenant=globex, user=alice, role="viewer")
    assert {m.tenant.slug for m in Membership.objects.for_user(alice)} == {"acme", "globex"}


def test_unscoped_is_explicit(alice, charlie):
    assert Membership.objects.unscoped().count() == 2


def test_related_managers_are_scoped_by_their_parent(acme, alice, charlie):
    assert [m.user for m in acme.memberships.all()] == [alice]
    assert alice.memberships.get().tenant == acme


def test_unscoped_subquery_is_refused(acme, alice, charlie):
    """An unscoped queryset compiled into another query fails like an evaluated one."""
    from django.contrib.auth import get_user_model
    from django.db.models import Exists, OuterRef, Subquery

    User = get_user_model()
    unscoped = Membership.objects.filter(role="owner")
    for build in (
        lambda: User.objects.filter(Exists(Membership.objects.filter(user=OuterRef("pk")))),
        lambda: User.objects.annotate(role=Subquery(Membership.objects.filter(user=OuterRef("pk")).values("role")[:1])),
        lambda: User.objects.filter(pk__in=unscoped.values("user")),
        lambda: User.objects.filter(memberships__in=unscoped),
        lambda: Membership.objects.for_tenant(acme).filter(pk__in=unscoped.values("pk")),
        lambda: Membership.objects.for_tenant(acme).filter(pk__in=unscoped),
    ):
        with pytest.raises(TenantScopeError, match="Membership queryset used without a tenant"):
            list(build())


def test_scoped_subquery_runs(acme, alice, charlie):
    from django.contrib.auth import get_user_model
    from django.db.models import Exists, OuterRef

    User = get_user_model()
    acme_members = Membership.objects.for_tenant(acme)
    assert list(User.objects.filter(pk__in=acme_members.values("user"))) == [alice]
    assert list(User.objects.filter(memberships__in=acme_members)) == [alice]
    in_acme = Exists(acme_members.filter(user=OuterRef("pk")))
    assert list(User.objects.filter(in_acme)) == [alice]
    everyone = Exists(Membership.objects.unscoped().filter(user=OuterRef("pk")))
    assert set(User.objects.filter(everyone)) == {alice, charlie}


def test_combining_with_an_unscoped_queryset_is_refused(acme, alice, charlie):
    acme_members = Membership.objects.for_tenant(acme)
    with pytest.raises(TenantScopeError):
        acme_members | Membership.objects.all()
    with pytest.raises(TenantScopeError):
        acme_members.union(Membership.objects.all())
    assert len(acme_members.union(Membership.objects.for_tenant(acme))) == 1
