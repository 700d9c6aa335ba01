"""Thin receivers: a completed IdP sign-in hands over to sso.services."""

from __future__ import annotations

from typing import Any

from allauth.account.signals import user_logged_in
from django.dispatch import receiver

from sso import selectors, services


@receiver(user_logged_in, dispatch_uid="sso.jit_membership")
def on_user_logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    sociallogin = kwargs.get("sociallogin")
    if sociallogin is None:
        return  # a password (or code) sign-in: nothing for single sign-on to do
    provider = selectors.provider_by_key(sociallogin.account.provider)
    if provider is not None:
        services.sign_in_completed(user=user, provider=provider, data=sociallogin.account.extra_data)
