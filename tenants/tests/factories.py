from __future__ import annotations

import factory
from allauth.account.models import EmailAddress

from tenants.models import Membership, Tenant, User
from tenants.roles import Role

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified(self, create: bool, extracted: object, **kwargs: object) -> None:
        self.save()
        if create:
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Tenant {n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.DEVELOPER


def sign_in(client: object, user: User) -> None:
    """Sign in through allauth's real login form, as a person does (a fresh sign-in).

    ``force_login`` records no sign-in time, so it never counts as recent for the
    destructive operations that need one (tenants/reauth.py).
    """
    client.logout()  # type: ignore[attr-defined]
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})  # type: ignore[attr-defined]
    assert response.status_code == 302, response.content
