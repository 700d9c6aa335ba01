"""Idempotent demo data for ./run: a provider, a consumer and platform staff."""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.db import transaction

from apis.demo.seed import seed_catalog
from llm.demo import seed_ai, seed_ai_subscriptions
from subscriptions.demo import seed_subscriptions
from tenants.models import Membership, Tenant, User
from tenants.roles import Role

DEMO_PASSWORD = "demo-pass-1234"

USERS = [
    ("staff@example.com", "Platform Staff", True),
    ("alice@acme.example", "Alice Provider", False),
    ("bob@globex.example", "Bob Consumer", False),
]
TENANTS = [
    ("acme", "Acme Logistics", "alice@acme.example"),
    ("globex", "Globex Retail", "bob@globex.example"),
]


class Command(BaseCommand):
    help = "Create demo users and organisations (safe to run again)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        users = {}
        for email, name, staff in USERS:
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(email, DEMO_PASSWORD, name=name, is_staff=staff, is_superuser=staff)
            EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
            users[email] = user
        for slug, name, owner in TENANTS:
            tenant, _ = Tenant.objects.get_or_create(slug=slug, defaults={"name": name, "created_by": users[owner]})
            Membership.objects.for_tenant(tenant).get_or_create(
                tenant=tenant, user=users[owner], defaults={"role": Role.OWNER}
            )
        # Acme Logistics is the demo provider: an Orders API (public) and a Weather API (internal).
        acme_owner = Membership.objects.for_tenant(Tenant.objects.get(slug="acme")).get(
            user=users["alice@acme.example"]
        )
        apis = seed_catalog(acme_owner)
        # Acme also offers AI: the Acme AI API (model route acme/chat-small) and the Summarise
        # prompt API, backed by ./run's local fake provider.
        apis += seed_ai(acme_owner)
        # Globex Retail is the demo consumer: its storefront uses Orders (Free, active) and has
        # asked for Weather Pro (waiting in Alice's approval queue).
        globex_owner = Membership.objects.for_tenant(Tenant.objects.get(slug="globex")).get(
            user=users["bob@globex.example"]
        )
        seed_subscriptions(globex_owner)
        seed_ai_subscriptions(globex_owner, acme_owner)
        subscriptions = seed_subscriptions(globex_owner)  # idempotent: now it only counts the live ones
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready ({len(USERS)} users, {len(TENANTS)} organisations, {len(apis)} APIs, "
                f"{subscriptions} subscriptions)."
            )
        )
