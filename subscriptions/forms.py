from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django import forms

from core.limits import max_length, max_value, min_value
from subscriptions.models import MAX_KEY_CIDRS, ApiKey, Application, Subscription

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


class KeyRestrictionsForm(forms.Form):
    """A key's restrictions; the service checks them (subscriptions.services.key_restrictions).

    ``apis``: the APIs the key may be limited to (the application's approved subscriptions);
    ``plan_limits``: a sentence naming the plans' per-minute limits, for the help text.
    """

    RESTRICTION_FIELDS = ("allowed_cidrs", "allowed_apis", "rate_limit_per_minute")

    allowed_cidrs = forms.CharField(
        required=False,
        # Room for every range twice over, in any spelling: the service counts after dropping duplicates.
        max_length=MAX_KEY_CIDRS * 2 * (max_length(ApiKey, "allowed_cidrs") + 1),
        label="Allowed client IP ranges",
        help_text=(
            f"One per line, IPv4 or IPv6 in CIDR notation (203.0.113.0/24, 2001:db8::/48) or a single address; "
            f"at most {MAX_KEY_CIDRS}. Empty: calls from anywhere."
        ),
        widget=forms.Textarea(
            attrs={**_TEXT, "rows": 3, "placeholder": "203.0.113.0/24\n2001:db8::/48", "spellcheck": "false"}
        ),
    )
    allowed_apis = forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        label="Allowed APIs",
        help_text="None ticked: every API the application subscribes to.",
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
    )
    rate_limit_per_minute = forms.IntegerField(
        required=False,
        min_value=min_value(ApiKey, "rate_limit_per_minute"),
        max_value=max_value(ApiKey, "rate_limit_per_minute"),
        label="Rate limit of this key (calls a minute)",
        widget=forms.NumberInput(attrs={**_TEXT, "inputmode": "numeric", "placeholder": "the plan's"}),
    )

    def __init__(self, *args: Any, apis: Iterable[Any] = (), plan_limits: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["allowed_apis"]).choices = [(api.pk, api.name) for api in apis]
        self.fields["rate_limit_per_minute"].help_text = (
            "Optional, below the plan's"
            + (f" ({plan_limits})" if plan_limits else "")
            + ". Empty: the plan's limits only."
        )

    def restriction_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.RESTRICTION_FIELDS]

    def restrictions(self) -> dict[str, Any]:
        """The cleaned restrictions, named as the key services take them."""
        return {name: self.cleaned_data[name] for name in self.RESTRICTION_FIELDS if name in self.cleaned_data}


class KeyForm(KeyRestrictionsForm):
    """A new key: its name and expiry, and optionally its restrictions (a collapsed section)."""

    field_order = ["name", "expires_at", *KeyRestrictionsForm.RESTRICTION_FIELDS]

    name = forms.CharField(
        max_length=max_length(ApiKey, "name"), widget=forms.TextInput(attrs={**_TEXT, "placeholder": "production"})
    )
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires",
        help_text="Optional (UTC). Leave empty for no expiry.",
        widget=forms.DateTimeInput(attrs={**_TEXT, "type": "datetime-local"}),
    )

    def basic_fields(self) -> list[forms.BoundField]:
        return [self["name"], self["expires_at"]]

    def has_restrictions(self) -> bool:
        """Whether the restriction section holds something (it opens then)."""
        return self.is_bound and any(self.data.get(name) for name in self.RESTRICTION_FIELDS)


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
