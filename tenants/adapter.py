"""allauth adapter: account e-mails are outbox rows, written in the request's transaction."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter

from core import outbox


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        from allauth.core import context as allauth_context
        from django.contrib.sites.shortcuts import get_current_site

        request = allauth_context.request
        ctx = {"request": request, "email": email, "current_site": get_current_site(request)}
        ctx.update(context)
        msg = self.render_mail(template_prefix, email, ctx)
        html = next(
            (content for content, mimetype in getattr(msg, "alternatives", []) if mimetype == "text/html"), None
        )
        for address in msg.to:
            outbox.enqueue_email(subject=msg.subject, body=msg.body, to=address, html=html)
