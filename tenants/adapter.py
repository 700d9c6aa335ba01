"""allauth adapter: account e-mails are outbox rows, written in the request's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from core import outbox
from core.net import client_ip


def on_site(url: str, host: str) -> str:
    """An absolute http(s) URL to ``host`` (the request's) moved onto SITE_URL's scheme and host."""
    bits = urlsplit(url)
    if bits.scheme not in ("http", "https") or bits.netloc != host:
        return url
    site = urlsplit(settings.SITE_URL)
    return urlunsplit((site.scheme, site.netloc, bits.path, bits.query, bits.fragment))


@dataclass(frozen=True)
class PortalSite:
    """What allauth's e-mails call ``current_site``: the platform's name and public host.

    Without django.contrib.sites allauth falls back to the request's host for both, so mails
    said "Hello from 127.0.0.1:8000!". SITE_NAME and SITE_URL are what users know the portal by.
    """

    name: str
    domain: str


def portal_site() -> PortalSite:
    return PortalSite(name=str(settings.SITE_NAME), domain=urlsplit(settings.SITE_URL).netloc)


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request: HttpRequest) -> str:
        """The address sign-in rate limits key on: the same rule as the REST throttles."""
        ip = client_ip(request.META, settings.TRUSTED_PROXY_COUNT)
        if not ip:
            raise PermissionDenied("Unable to determine the client IP address.")
        return ip

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        from allauth.core import context as allauth_context

        request = allauth_context.request
        ctx = {"request": request, "email": email, "current_site": portal_site()}
        ctx.update(context)
        # One host in every link: allauth builds its links (confirm, reset, sign up…) from the host
        # the request came to, which may be 127.0.0.1 while invitations say localhost; a link to
        # another host has no session cookie there, so the user would arrive signed out.
        if request is not None:
            host = request.get_host()
            ctx = {key: on_site(value, host) if isinstance(value, str) else value for key, value in ctx.items()}
        msg = self.render_mail(template_prefix, email, ctx)
        html = next(
            (content for content, mimetype in getattr(msg, "alternatives", []) if mimetype == "text/html"), None
        )
        for address in msg.to:
            outbox.enqueue_email(subject=msg.subject, body=msg.body, to=address, html=html)
