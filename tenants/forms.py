from __future__ import annotations

from django import forms

from core.limits import max_length
from tenants.models import PersonalAccessToken, SuspensionEvent, Tenant, TokenScope
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
    """New personal access token; ``scope`` defaults to read-only."""

    name = forms.CharField(
        max_length=max_length(PersonalAccessToken, "name"),
        widget=forms.TextInput(attrs={**_TEXT, "placeholder": "CI deploys"}),
    )
    # Least privilege by default on the page: a person picks "write" knowingly.
    scope = forms.ChoiceField(
        choices=TokenScope.choices,
        initial=TokenScope.READ,
        required=False,  # an old form or script that sends no scope gets the least privilege
        help_text="Read-only tokens can only read (GET); read-write tokens can do what your role allows.",
        widget=forms.Select(attrs=_SELECT),
    )
    expires_at = forms.DateTimeField(
        required=False,
        help_text="Optional (UTC). Leave empty for no expiry.",
        widget=forms.DateTimeInput(attrs={**_TEXT, "type": "datetime-local"}),
    )

    def clean_scope(self) -> str:
        return self.cleaned_data.get("scope") or TokenScope.READ


class SuspendForm(forms.Form):
    """Platform staff suspend an organisation; the members and owners see the reason."""

    reason = forms.CharField(
        max_length=max_length(Tenant, "suspension_reason"),
        label="Reason (shown to the members and e-mailed to the owners)",
        widget=forms.Textarea(attrs={**_TEXT, "rows": 2}),
    )


class UnsuspendForm(forms.Form):
    note = forms.CharField(
        max_length=max_length(SuspensionEvent, "reason"),
        required=False,
        label="Note for the trail (optional)",
        widget=forms.TextInput(attrs=_TEXT),
    )
