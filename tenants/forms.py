from __future__ import annotations

from django import forms

from core.limits import max_length
from tenants.models import PersonalAccessToken, Tenant
from tenants.roles import Role

_TEXT = {"class": "form-control"}
_SELECT = {"class": "form-select"}


class TenantCreateForm(forms.Form):
    name = forms.CharField(
        max_length=max_length(Tenant, "name"),
        widget=forms.TextInput(attrs={**_TEXT, "placeholder": "Acme Logistics"}),
    )
    slug = forms.CharField(
        max_length=max_length(Tenant, "slug"),
        help_text="Used in URLs: lowercase letters, digits and hyphens.",
        widget=forms.TextInput(attrs={**_TEXT, "placeholder": "acme"}),
    )


class TenantUpdateForm(forms.Form):
    name = forms.CharField(max_length=max_length(Tenant, "name"), widget=forms.TextInput(attrs=_TEXT))


class TenantDeleteForm(forms.Form):
    confirm_slug = forms.CharField(label="Type the slug to confirm", widget=forms.TextInput(attrs=_TEXT))


class InvitationForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={**_TEXT, "placeholder": "colleague@example.com"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.DEVELOPER, widget=forms.Select(attrs=_SELECT))


class RoleForm(forms.Form):
    role = forms.ChoiceField(
        choices=Role.choices, widget=forms.Select(attrs={**_SELECT, "class": "form-select form-select-sm"})
    )


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=max_length(PersonalAccessToken, "name"),
        widget=forms.TextInput(attrs={**_TEXT, "placeholder": "CI deploys"}),
    )
    expires_at = forms.DateTimeField(
        required=False,
        help_text="Optional (UTC). Leave empty for no expiry.",
        widget=forms.DateTimeInput(attrs={**_TEXT, "type": "datetime-local"}),
    )
