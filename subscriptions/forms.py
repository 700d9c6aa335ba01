from __future__ import annotations

from typing import Any, cast

from django import forms

from core.limits import max_length
from subscriptions.models import ApiKey, Application, Subscription

_TEXT = {"class": "form-control"}
_SELECT = {"class": "form-select"}

GRACE_CHOICES = [
    (0, "None: the old key stops now"),
    (1, "1 hour"),
    (24, "1 day"),
    (72, "3 days"),
    (168, "7 days"),
]


class ApplicationForm(forms.Form):
    name = forms.CharField(
        max_length=max_length(Application, "name"),
        widget=forms.TextInput(attrs={**_TEXT, "placeholder": "Shop backend"}),
    )
    description = forms.CharField(
        max_length=max_length(Application, "description"),
        required=False,
        widget=forms.Textarea(attrs={**_TEXT, "rows": 2}),
    )
    contact_email = forms.EmailField(
        max_length=max_length(Application, "contact_email"),
        required=False,
        label="Contact e-mail",
        widget=forms.EmailInput(attrs={**_TEXT, "placeholder": "ops@example.com"}),
    )


class SubscribeForm(forms.Form):
    application = forms.TypedChoiceField(coerce=int, widget=forms.Select(attrs=_SELECT))
    use_case = forms.CharField(
        max_length=max_length(Subscription, "use_case"),
        required=False,
        label="Use case",
        help_text="What you will use the API for; the provider sees it when deciding.",
        widget=forms.Textarea(attrs={**_TEXT, "rows": 3}),
    )

    def __init__(self, *args: Any, applications: list, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["application"]).choices = [(a.pk, a.name) for a in applications]


class PlanChangeForm(forms.Form):
    plan = forms.TypedChoiceField(coerce=int, label="New plan", widget=forms.Select(attrs=_SELECT))
    note = forms.CharField(
        max_length=max_length(Subscription, "plan_change_note"),
        required=False,
        widget=forms.Textarea(attrs={**_TEXT, "rows": 2}),
    )

    def __init__(self, *args: Any, plans: list, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["plan"]).choices = [(p.pk, p.name) for p in plans]


class ReasonForm(forms.Form):
    reason = forms.CharField(
        required=False, max_length=max_length(Subscription, "reason"), widget=forms.Textarea(attrs={**_TEXT, "rows": 2})
    )


class KeyForm(forms.Form):
    name = forms.CharField(
        max_length=max_length(ApiKey, "name"), widget=forms.TextInput(attrs={**_TEXT, "placeholder": "production"})
    )
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires",
        help_text="Optional (UTC). Leave empty for no expiry.",
        widget=forms.DateTimeInput(attrs={**_TEXT, "type": "datetime-local"}),
    )


class RotateForm(forms.Form):
    grace_hours = forms.TypedChoiceField(
        coerce=int,
        choices=GRACE_CHOICES,
        initial=1,
        label="Keep the old key working for",
        # One select per key row, rendered without its <label>: the accessible name is on it.
        widget=forms.Select(
            attrs={**_SELECT, "class": "form-select form-select-sm", "aria-label": "Keep the old key working for"}
        ),
    )
