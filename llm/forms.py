"""Web forms of the AI gateway's configuration. Plain forms: llm.services checks meaning."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from apis.models import ApiVersion
from core.limits import max_length, max_value, min_value
from llm import presets
from llm.models import (
    Capability,
    ModelPrice,
    ModelProvider,
    ModelRoute,
    ProviderCredential,
    ProviderKind,
    ProviderModel,
    RouteTarget,
)
from llm.services.providers import MAX_SECRET_LENGTH
from llm.services.routes import MAX_POSITION

_TEXT = {"class": "form-control"}
_SELECT = {"class": "form-select"}
_CHECK = {"class": "form-check-input"}


def _price(label: str, **kwargs: Any) -> forms.DecimalField:
    return forms.DecimalField(
        max_digits=12,
        decimal_places=6,
        min_value=0,
        label=label,
        widget=forms.NumberInput(attrs={**_TEXT, "step": "any"}),
        **kwargs,
    )


class ProviderForm(forms.Form):
    name = forms.CharField(max_length=max_length(ModelProvider, "name"), widget=forms.TextInput(attrs=_TEXT))
    slug = forms.CharField(
        max_length=max_length(ModelProvider, "slug"),
        help_text="Names the provider in call records and dashboards: lowercase letters, digits, hyphens.",
        widget=forms.TextInput(attrs=_TEXT),
    )
    kind = forms.ChoiceField(choices=ProviderKind.choices, label="Wire format", widget=forms.Select(attrs=_SELECT))
    base_url = forms.CharField(
        max_length=max_length(ModelProvider, "base_url"),
        label="Base URL",
        help_text="e.g. https://api.openai.com/v1. Private and loopback hosts only where the operator allows them.",
        widget=forms.URLInput(attrs=_TEXT),
    )
    connect_timeout_ms = forms.IntegerField(
        min_value=min_value(ModelProvider, "connect_timeout_ms"),
        max_value=max_value(ModelProvider, "connect_timeout_ms"),
        initial=5000,
        label="Connect timeout (ms)",
        widget=forms.NumberInput(attrs=_TEXT),
    )
    read_timeout_ms = forms.IntegerField(
        min_value=min_value(ModelProvider, "read_timeout_ms"),
        max_value=max_value(ModelProvider, "read_timeout_ms"),
        initial=60000,
        label="Read timeout (ms)",
        help_text="To the first byte, and between chunks of a stream.",
        widget=forms.NumberInput(attrs=_TEXT),
    )


class PresetForm(forms.Form):
    """GET form: picking a preset reloads the provider form filled in (no script needed)."""

    preset = forms.ChoiceField(
        choices=[("", "Choose a known provider…"), *[(p.key, p.name) for p in presets.PRESETS]],
        required=False,
        label="Start from",
        widget=forms.Select(attrs=_SELECT),
    )


def provider_initial(key: str | None) -> dict[str, Any]:
    found = presets.preset(key)
    if found is None:
        return {}
    return {"name": found.name, "slug": found.key, "kind": found.kind, "base_url": found.base_url}


class CredentialForm(forms.Form):
    label = forms.CharField(
        max_length=max_length(ProviderCredential, "label"),
        widget=forms.TextInput(attrs={**_TEXT, "placeholder": "main"}),
    )
    secret = forms.CharField(
        max_length=MAX_SECRET_LENGTH,
        label="API key",
        help_text="Stored encrypted; shown only masked from now on.",
        # render_value=False: a page redisplayed after an error never carries the key back.
        widget=forms.PasswordInput(attrs={**_TEXT, "autocomplete": "off"}, render_value=False),
    )
    weight = forms.IntegerField(
        min_value=min_value(ProviderCredential, "weight"),
        max_value=max_value(ProviderCredential, "weight"),
        initial=1,
        widget=forms.NumberInput(attrs=_TEXT),
    )
    priority = forms.IntegerField(
        min_value=0,
        max_value=max_value(ProviderCredential, "priority"),
        initial=0,
        help_text="Lowest first.",
        widget=forms.NumberInput(attrs=_TEXT),
    )
    enabled = forms.BooleanField(required=False, initial=True, widget=forms.CheckboxInput(_CHECK))


class CredentialEditForm(CredentialForm):
    secret = forms.CharField(
        max_length=MAX_SECRET_LENGTH,
        required=False,
        label="Replace the API key",
        help_text="Leave empty to keep the current key.",
        widget=forms.PasswordInput(attrs={**_TEXT, "autocomplete": "off"}, render_value=False),
    )


class PriceListForm(forms.Form):
    """GET form: picking an entry reloads the model form filled in from the curated price list."""

    price = forms.ChoiceField(
        choices=[("", "Choose a model…"), *[(p.key, f"{p.key} (as of {p.as_of})") for p in presets.price_list()]],
        required=False,
        label="Add from the price list",
        widget=forms.Select(attrs=_SELECT),
    )


class PriceFields(forms.Form):
    input_per_million = _price("Input, USD per million tokens")
    output_per_million = _price("Output, USD per million tokens")
    cached_input_per_million = _price(
        "Cached input, USD per million tokens", required=False, help_text="Empty: cached input costs the input price."
    )
    effective_from = forms.DateField(
        required=False, help_text="UTC date; empty: today.", widget=forms.DateInput(attrs={**_TEXT, "type": "date"})
    )
    source = forms.CharField(
        max_length=max_length(ModelPrice, "source"),
        required=False,
        help_text="Where the price comes from (a URL).",
        widget=forms.TextInput(attrs=_TEXT),
    )


class ModelForm(PriceFields):
    model_id = forms.CharField(
        max_length=max_length(ProviderModel, "model_id"),
        label="Model id",
        help_text="As the provider names it, e.g. gpt-4o-mini.",
        widget=forms.TextInput(attrs=_TEXT),
    )
    capability = forms.ChoiceField(choices=Capability.choices, widget=forms.Select(attrs=_SELECT))
    context_window = forms.IntegerField(
        min_value=1, required=False, label="Context window (tokens)", widget=forms.NumberInput(attrs=_TEXT)
    )

    field_order = ["model_id", "capability", "context_window"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The price is optional when creating a model: no price means the cost shows as unknown.
        for name in ("input_per_million", "output_per_million"):
            self.fields[name].required = False

    def split(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        data = dict(self.cleaned_data)
        price = {name: data.pop(name) for name in PriceFields.base_fields}
        if price["input_per_million"] is None and price["output_per_million"] is None:
            return data, None
        return data, price


def model_initial(key: str | None) -> dict[str, Any]:
    listed = presets.listed_price(key)
    if listed is None:
        return {}
    return {
        "model_id": listed.model,
        "capability": listed.capability,
        "context_window": listed.context_window,
        "input_per_million": listed.input,
        "output_per_million": listed.output,
        "cached_input_per_million": listed.cached_input,
        "effective_from": listed.as_of,
        "source": listed.source,
    }


class RouteForm(forms.Form):
    name = forms.CharField(
        max_length=max_length(ModelRoute, "name"),
        help_text="Public name: <organisation slug>/<name>. Fixed once created.",
        widget=forms.TextInput(attrs={**_TEXT, "placeholder": "chat-small"}),
    )
    capability = forms.ChoiceField(choices=Capability.choices, widget=forms.Select(attrs=_SELECT))
    description = forms.CharField(
        max_length=max_length(ModelRoute, "description"), required=False, widget=forms.TextInput(attrs=_TEXT)
    )


class RouteDescriptionForm(forms.Form):
    description = RouteForm.base_fields["description"]


class TargetForm(forms.Form):
    model = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, widget=forms.Select(attrs=_SELECT))
    position = forms.IntegerField(
        min_value=0, max_value=MAX_POSITION, initial=0, required=False, widget=forms.NumberInput(attrs=_TEXT)
    )
    weight = forms.IntegerField(
        min_value=min_value(RouteTarget, "weight"),
        max_value=max_value(RouteTarget, "weight"),
        initial=1,
        required=False,
        widget=forms.NumberInput(attrs=_TEXT),
    )

    def __init__(self, *args: Any, models: list[ProviderModel] = (), **kwargs: Any) -> None:  # type: ignore[assignment]
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["model"]).choices = [
            ("", "—"),
            *[(m.pk, f"{m.provider.slug}/{m.model_id}") for m in models],
        ]


TargetFormSet = forms.formset_factory(TargetForm, extra=0, max_num=20, absolute_max=20)


def targets_from(formset: forms.BaseFormSet) -> list[dict[str, Any]]:
    return [
        {
            "model": f.cleaned_data["model"],
            "position": f.cleaned_data.get("position") or 0,
            "weight": f.cleaned_data.get("weight") or 1,
        }
        for f in formset.forms
        if f.cleaned_data.get("model")
    ]


class AiVersionForm(forms.Form):
    label = forms.CharField(
        max_length=max_length(ApiVersion, "label"), widget=forms.TextInput(attrs={**_TEXT, "placeholder": "v1"})
    )
    base_path = forms.CharField(
        max_length=max_length(ApiVersion, "base_path"),
        help_text="Where consumers call it, unique on the platform, e.g. /acme-ai/v1.",
        widget=forms.TextInput(attrs=_TEXT),
    )
    routes = forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        label="Model routes",
        help_text="The models this API offers; each needs a target before the version can be published.",
        widget=forms.CheckboxSelectMultiple,
    )
    release_notes = forms.CharField(
        max_length=max_length(ApiVersion, "release_notes"),
        required=False,
        widget=forms.Textarea(attrs={**_TEXT, "rows": "3"}),
    )

    def __init__(self, *args: Any, routes: list[ModelRoute] = (), **kwargs: Any) -> None:  # type: ignore[assignment]
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["routes"]).choices = [
            (r.pk, f"{r.public_name} ({r.get_capability_display().lower()})") for r in routes
        ]


class AiRoutesForm(forms.Form):
    routes = AiVersionForm.base_fields["routes"]

    def __init__(self, *args: Any, routes: list[ModelRoute] = (), **kwargs: Any) -> None:  # type: ignore[assignment]
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["routes"]).choices = [
            (r.pk, f"{r.public_name} ({r.get_capability_display().lower()})") for r in routes
        ]
