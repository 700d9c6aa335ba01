"""allauth's sign-in, sign-up and reset forms with the single sign-on rule; the owner's SSO forms."""

from __future__ import annotations

from typing import Any

from allauth.account import forms as account_forms
from django import forms
from django.db import models
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from sso import selectors
from sso.models import SECRET_MAX_LENGTH, GroupRoleMapping, IdentityProvider, ProviderKind, VerifiedDomain
from tenants.roles import Role


def _sso_message(provider: IdentityProvider, email: str, doing: str) -> str:
    # format_html: the provider's name is the tenant's text, escaped like everything else.
    return format_html(
        "{} requires single sign-on for addresses at {}: {} is not possible with a password. "
        '<a href="{}">Sign in with single sign-on</a> instead.',
        provider.tenant.name,
        email.rpartition("@")[2],
        doing,
        reverse("sso:start") + "?" + urlencode({"email": email}),
    )


class LoginForm(account_forms.LoginForm):
    """Refuses the password for addresses whose organisation requires single sign-on."""

    def clean(self) -> dict[str, Any]:
        login = (self.cleaned_data.get("login") or "").strip()
        provider = selectors.password_refusal(login) if "@" in login else None
        if provider is not None:
            raise forms.ValidationError(_sso_message(provider, login, "signing in"), code="sso_required")
        return super().clean()


class ResetPasswordForm(account_forms.ResetPasswordForm):
    def clean_email(self) -> str:
        email = super().clean_email()
        provider = selectors.password_refusal(email)
        if provider is not None:
            raise forms.ValidationError(_sso_message(provider, email, "resetting the password"), code="sso_required")
        return email


class SignupForm(account_forms.SignupForm):
    def clean_email(self) -> str:
        email = super().clean_email()
        provider = selectors.password_refusal(email)
        if provider is not None:
            raise forms.ValidationError(_sso_message(provider, email, "signing up"), code="sso_required")
        return email


def _max(model: type[models.Model], field: str) -> int | None:
    """The model's limit of ``field``: written once, on the model."""
    limit = getattr(model._meta.get_field(field), "max_length", None)
    return int(limit) if limit is not None else None


class _Styled(forms.Form):
    """Bootstrap classes on every widget (checkboxes, selects, the rest)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select"
            else:
                css = "form-control"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()


class StartForm(forms.Form):
    email = forms.EmailField(label="Work e-mail")


class ProviderForm(_Styled):
    kind = forms.ChoiceField(label="Protocol", choices=ProviderKind.choices)
    name = forms.CharField(label="Name on the sign-in button", max_length=_max(IdentityProvider, "name"))
    server_url = forms.URLField(
        assume_scheme="https",
        label="Issuer URL",
        required=False,
        max_length=_max(IdentityProvider, "server_url"),
        help_text="OpenID Connect only, e.g. https://login.example.com/realms/acme",
    )
    client_id = forms.CharField(
        label="Client id",
        required=False,
        max_length=_max(IdentityProvider, "client_id"),
        help_text="OpenID Connect only.",
    )
    client_secret = forms.CharField(
        label="Client secret",
        required=False,
        max_length=SECRET_MAX_LENGTH,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted; leave blank to keep the current one.",
    )
    scopes = forms.CharField(
        label="Scopes", max_length=_max(IdentityProvider, "scopes"), initial="openid profile email"
    )
    metadata_url = forms.URLField(
        label="IdP metadata URL",
        required=False,
        max_length=_max(IdentityProvider, "metadata_url"),
        assume_scheme="https",
        help_text="SAML only.",
    )
    metadata_xml = forms.CharField(
        label="…or the IdP metadata XML",
        required=False,
        max_length=_max(IdentityProvider, "metadata_xml"),
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    default_role = forms.ChoiceField(label="Role of new members", choices=Role.choices, initial=Role.VIEWER)
    group_claim = forms.CharField(
        label="Group claim or attribute",
        required=False,
        max_length=_max(IdentityProvider, "group_claim"),
        initial="groups",
    )
    enabled = forms.BooleanField(label="Enabled: verified addresses can sign in with it", required=False)
    sso_required = forms.BooleanField(
        label="Require single sign-on for addresses in the verified domains (owners keep their password)",
        required=False,
    )


class DomainForm(_Styled):
    domain = forms.CharField(label="Domain", max_length=_max(VerifiedDomain, "domain"), help_text="e.g. acme.example")


class DomainEmailForm(_Styled):
    address = forms.ChoiceField(label="Send the link to")

    def __init__(self, *args: Any, recipients: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["address"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(a, a) for a in recipients]


class MappingForm(_Styled):
    group = forms.CharField(label="Group", max_length=_max(GroupRoleMapping, "group"))
    role = forms.ChoiceField(label="Role", choices=Role.choices)
