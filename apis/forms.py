"""Web forms of the catalog. Plain forms: the services validate meaning and uniqueness."""

from __future__ import annotations

from typing import Any

from django import forms

from apis import openapi
from apis.models import Api, ApiVersion, AuditEvent, Plan, Visibility
from core.limits import max_length, max_value, min_value

_TEXT = {"class": "form-control"}
_SELECT = {"class": "form-select"}
_CHECK = {"class": "form-check-input"}


def _textarea(rows: int, **attrs: str) -> forms.Textarea:
    return forms.Textarea(attrs={**_TEXT, "rows": str(rows), **attrs})


class ApiForm(forms.Form):
    name = forms.CharField(
        max_length=max_length(Api, "name"), widget=forms.TextInput(attrs={**_TEXT, "placeholder": "Orders"})
    )
    slug = forms.CharField(
        max_length=max_length(Api, "slug"),
        help_text="Used in URLs: lowercase letters, digits and hyphens.",
        widget=forms.TextInput(attrs={**_TEXT, "placeholder": "orders"}),
    )
    summary = forms.CharField(
        max_length=max_length(Api, "summary"), required=False, widget=forms.TextInput(attrs=_TEXT)
    )
    description = forms.CharField(
        max_length=max_length(Api, "description"),
        required=False,
        help_text="Markdown. Raw HTML and scripts are stripped.",
        widget=_textarea(8),
    )
    tags = forms.CharField(
        required=False,
        help_text="Comma-separated, e.g. logistics, shipping.",
        widget=forms.TextInput(attrs=_TEXT),
    )
    visibility = forms.ChoiceField(
        choices=Visibility.choices, initial=Visibility.PRIVATE, widget=forms.Select(attrs=_SELECT)
    )
    contact_name = forms.CharField(
        max_length=max_length(Api, "contact_name"), required=False, widget=forms.TextInput(attrs=_TEXT)
    )
    contact_email = forms.CharField(
        max_length=max_length(Api, "contact_email"), required=False, widget=forms.EmailInput(attrs=_TEXT)
    )
    contact_url = forms.CharField(
        max_length=max_length(Api, "contact_url"), required=False, widget=forms.URLInput(attrs=_TEXT)
    )


def parse_upstreams(text: str) -> list[Any]:
    """One target per line: ``URL`` or ``URL weight``. The service validates each."""
    targets: list[Any] = []
    for line in (text or "").splitlines():
        parts = line.split()
        if not parts:
            continue
        targets.append({"url": parts[0], "weight": parts[1] if len(parts) > 1 else 1})
    return targets


def format_upstreams(upstreams: list[dict[str, Any]]) -> str:
    return "\n".join(f"{target['url']} {target.get('weight', 1)}" for target in upstreams)


class VersionForm(forms.Form):
    label = forms.CharField(
        max_length=max_length(ApiVersion, "label"), widget=forms.TextInput(attrs={**_TEXT, "placeholder": "v1"})
    )
    base_path = forms.CharField(
        max_length=max_length(ApiVersion, "base_path"),
        help_text="What gateways route on; unique across the platform. Fixed once published.",
        widget=forms.TextInput(attrs={**_TEXT, "placeholder": "/orders/v1"}),
    )
    upstreams = forms.CharField(
        required=False,
        help_text="One target per line: an absolute http(s) URL, optionally followed by a weight (default 1).",
        widget=_textarea(3, placeholder="https://orders.internal.example 3\nhttps://orders-b.internal.example 1"),
    )
    connect_timeout_ms = forms.IntegerField(
        min_value=min_value(ApiVersion, "connect_timeout_ms"),
        max_value=max_value(ApiVersion, "connect_timeout_ms"),
        initial=5_000,
        widget=forms.NumberInput(attrs=_TEXT),
    )
    read_timeout_ms = forms.IntegerField(
        min_value=min_value(ApiVersion, "read_timeout_ms"),
        max_value=max_value(ApiVersion, "read_timeout_ms"),
        initial=30_000,
        widget=forms.NumberInput(attrs=_TEXT),
    )
    release_notes = forms.CharField(
        max_length=max_length(ApiVersion, "release_notes"), required=False, help_text="Markdown.", widget=_textarea(4)
    )


class SpecForm(forms.Form):
    openapi_file = forms.FileField(
        required=False,
        label="OpenAPI document (file)",
        help_text="OpenAPI 3.0 or 3.1, JSON or YAML, at most 2 MB and 5,000 endpoints.",
        widget=forms.ClearableFileInput(attrs={**_TEXT, "accept": ".json,.yaml,.yml"}),
    )
    openapi = forms.CharField(
        required=False,
        label="…or paste it",
        widget=_textarea(8, spellcheck="false", **{"class": "form-control font-monospace"}),
    )

    def document(self) -> str | bytes | None:
        upload = self.cleaned_data.get("openapi_file")
        if upload is not None:
            # The upload handler already stopped anything over the limit; read in chunks anyway.
            return openapi.read_limited(upload.read, field="openapi_file")
        return self.cleaned_data.get("openapi") or None


class VersionCreateForm(VersionForm, SpecForm):
    pass


class DeprecateForm(forms.Form):
    sunset_date = forms.DateField(widget=forms.DateInput(attrs={**_TEXT, "type": "date"}))
    note = forms.CharField(
        required=False, max_length=max_length(AuditEvent, "note"), widget=forms.TextInput(attrs=_TEXT)
    )


class NoteForm(forms.Form):
    note = forms.CharField(
        required=False, max_length=max_length(AuditEvent, "note"), widget=forms.TextInput(attrs=_TEXT)
    )


class PlanForm(forms.Form):
    name = forms.CharField(
        max_length=max_length(Plan, "name"), widget=forms.TextInput(attrs={**_TEXT, "placeholder": "Free"})
    )
    description = forms.CharField(max_length=max_length(Plan, "description"), required=False, widget=_textarea(3))
    rate_limit_per_second = forms.IntegerField(
        min_value=1, required=False, label="Requests per second", widget=forms.NumberInput(attrs=_TEXT)
    )
    rate_limit_per_minute = forms.IntegerField(
        min_value=1, required=False, label="Requests per minute", widget=forms.NumberInput(attrs=_TEXT)
    )
    quota_per_day = forms.IntegerField(
        min_value=1, required=False, label="Requests per day (UTC)", widget=forms.NumberInput(attrs=_TEXT)
    )
    quota_per_month = forms.IntegerField(
        min_value=1, required=False, label="Requests per month (UTC)", widget=forms.NumberInput(attrs=_TEXT)
    )
    # AI versions only (model routes, prompts): tokens as the provider counts them, cost in USD.
    token_limit_per_minute = forms.IntegerField(
        min_value=1,
        required=False,
        label="Tokens per minute (AI)",
        help_text="AI versions: input + output tokens. Empty: no limit.",
        widget=forms.NumberInput(attrs=_TEXT),
    )
    token_quota_per_day = forms.IntegerField(
        min_value=1, required=False, label="Tokens per day (AI, UTC)", widget=forms.NumberInput(attrs=_TEXT)
    )
    token_quota_per_month = forms.IntegerField(
        min_value=1, required=False, label="Tokens per month (AI, UTC)", widget=forms.NumberInput(attrs=_TEXT)
    )
    cost_budget_per_day = forms.DecimalField(
        min_value=0,
        max_digits=14,
        decimal_places=4,
        required=False,
        label="Cost budget per day (AI, USD)",
        help_text="Charged after each answer from the model prices; enforced on the next request.",
        widget=forms.NumberInput(attrs={**_TEXT, "step": "0.0001"}),
    )
    cost_budget_per_month = forms.DecimalField(
        min_value=0,
        max_digits=14,
        decimal_places=4,
        required=False,
        label="Cost budget per month (AI, USD)",
        widget=forms.NumberInput(attrs={**_TEXT, "step": "0.0001"}),
    )
    approval_required = forms.BooleanField(
        required=False, help_text="Subscriptions wait for your admins' approval.", widget=forms.CheckboxInput(_CHECK)
    )
    is_public = forms.BooleanField(
        required=False,
        initial=True,
        label="Public",
        help_text="Hidden plans do not appear in the catalog; only you can grant them.",
        widget=forms.CheckboxInput(_CHECK),
    )
    price_label = forms.CharField(
        max_length=max_length(Plan, "price_label"),
        required=False,
        widget=forms.TextInput(attrs={**_TEXT, "placeholder": "Free"}),
    )
