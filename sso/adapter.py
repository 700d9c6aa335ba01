"""allauth's social account adapter: organisations' providers as apps, and the sign-in rules.

``SOCIALACCOUNT_ADAPTER`` points here. Apps come only from sso's ``IdentityProvider`` table
(never allauth's ``SocialApp`` table or settings), one per organisation, looked up by its key.
"""

from __future__ import annotations

from typing import Any

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp, SocialLogin
from django.http import HttpRequest
from django.shortcuts import render

from sso import selectors, services
from sso.apps_builder import social_app
from sso.models import IdentityProvider, ProviderKind

_KINDS = {"openid_connect": ProviderKind.OIDC, "saml": ProviderKind.SAML}


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def list_apps(self, request: HttpRequest | None, provider: str | None = None, client_id: str | None = None) -> list:
        # Unfiltered lists would show every organisation's IdP on the sign-in page: the portal
        # routes by e-mail domain instead (sso.views.start), so an unfiltered ask gets nothing.
        if not provider and not client_id:
            return []
        # The key comes from the callback URL, before anyone is signed in: it names the tenant
        # (keys are unique across tenants), so this lookup crosses tenants on purpose.
        queryset = IdentityProvider.objects.unscoped().filter(enabled=True).select_related("tenant")
        if provider in _KINDS:
            queryset = queryset.filter(kind=_KINDS[provider])
            if client_id:
                queryset = queryset.filter(key=client_id)
        elif provider:
            queryset = queryset.filter(key=provider)
        else:
            queryset = queryset.filter(key=client_id)
        return [social_app(p) for p in queryset[:2] if p.is_configured]

    def get_app(self, request: HttpRequest | None, provider: str, client_id: str | None = None) -> SocialApp:
        apps = self.list_apps(request, provider=provider, client_id=client_id)
        if len(apps) != 1:
            raise SocialApp.DoesNotExist()
        return apps[0]

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        provider = selectors.provider_by_key(sociallogin.account.provider)
        emails = [address.email for address in sociallogin.email_addresses]
        user_email = str(getattr(sociallogin.user, "email", None) or "")
        if user_email:
            emails.append(user_email)
        try:
            if provider is None:
                raise services.SignInRefused("This single sign-on provider no longer exists.")
            services.sign_in_check(provider=provider, emails=emails)
        except services.SignInRefused as refusal:
            raise ImmediateHttpResponse(
                render(request, "sso/sign_in_refused.html", {"message": refusal.message}, status=403)
            ) from None

    def populate_user(self, request: HttpRequest, sociallogin: SocialLogin, data: dict[str, Any]) -> Any:
        user = super().populate_user(request, sociallogin, data)
        name = data.get("name") or " ".join(p for p in (data.get("first_name"), data.get("last_name")) if p)
        if name and hasattr(user, "name"):
            user.name = str(name)[:150]
        if getattr(user, "email", ""):
            user.email = user.email.lower()
        return user
