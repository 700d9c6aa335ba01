"""Web forms of prompt templates: the template, the version editor (message and variable rows),
the playground and "publish as API". Plain forms: the lint and the services judge the content.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms

from apis.models import Visibility
from core.limits import max_length
from llm.models import ModelRoute, PromptTemplate, PromptVersion, ResponseMode
from protocol.prompts import MESSAGE_ROLES, VARIABLE_TYPES

_TEXT = {"class": "form-control"}
_SELECT = {"class": "form-select"}
_CHECK = {"class": "form-check-input"}
#: Empty rows offered below the existing ones (no script needed to add a row).
EXTRA_ROWS = 2


class TemplateForm(forms.Form):
    name = forms.CharField(
        max_length=max_length(PromptTemplate, "name"),
        widget=forms.TextInput(attrs={**_TEXT, "placeholder": "Summarise"}),
    )
    slug = forms.CharField(
        max_length=50,
        help_text="Used in URLs: lowercase letters, digits and hyphens.",
        widget=forms.TextInput(attrs={**_TEXT, "placeholder": "summarise"}),
    )
    description = forms.CharField(
        max_length=max_length(PromptTemplate, "description"), required=False, widget=forms.TextInput(attrs=_TEXT)
    )


class MessageRowForm(forms.Form):
    # Spare rows start as "user": the system message, when there is one, usually comes first.
    role = forms.ChoiceField(
        choices=[(r, r) for r in MESSAGE_ROLES], initial="user", widget=forms.Select(attrs=_SELECT)
    )
    content = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={**_TEXT, "rows": "4", "class": "form-control font-monospace"}),
    )


class VariableRowForm(forms.Form):
    name = forms.CharField(
        required=False, max_length=64, widget=forms.TextInput(attrs={**_TEXT, "placeholder": "text"})
    )
    type = forms.ChoiceField(choices=[(t, t) for t in VARIABLE_TYPES], widget=forms.Select(attrs=_SELECT))
    required = forms.BooleanField(required=False, widget=forms.CheckboxInput(attrs=_CHECK))
    default = forms.CharField(required=False, widget=forms.TextInput(attrs=_TEXT), help_text="Empty: no default.")
    enum = forms.CharField(
        required=False, widget=forms.TextInput(attrs=_TEXT), help_text="Allowed values, comma-separated."
    )
    max_length = forms.IntegerField(required=False, min_value=1, widget=forms.NumberInput(attrs=_TEXT))
    description = forms.CharField(required=False, max_length=300, widget=forms.TextInput(attrs=_TEXT))

    declaration: dict[str, Any] | None = None

    def _typed(self, raw: str, kind: str, what: str) -> Any:
        raw = raw.strip()
        try:
            if kind == "integer":
                return int(raw)
            if kind == "number":
                value = float(raw)
                return int(value) if value.is_integer() and "." not in raw and "e" not in raw.lower() else value
            if kind == "boolean":
                if raw.lower() in ("true", "false"):
                    return raw.lower() == "true"
                raise ValueError
        except ValueError:
            raise forms.ValidationError(f"The {what} “{raw}” is not {kind_word(kind)}.") from None
        return raw

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            self.declaration = self._declaration(data)
        except forms.ValidationError as error:
            self.declaration = None
            raise error
        return data

    def _declaration(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """The variable as ``protocol.prompts`` declares it, or None for an empty row."""
        name = (data.get("name") or "").strip()
        if not name:
            return None
        kind = data.get("type") or "string"
        decl: dict[str, Any] = {"name": name, "type": kind, "required": bool(data.get("required"))}
        if data.get("description"):
            decl["description"] = data["description"]
        if (data.get("default") or "").strip() != "":
            decl["default"] = self._typed(data["default"], kind, "default")
        if (data.get("enum") or "").strip():
            decl["enum"] = [self._typed(v, kind, "enum value") for v in data["enum"].split(",") if v.strip()]
        if data.get("max_length") is not None:
            decl["max_length"] = data["max_length"]
        return decl


def kind_word(kind: str) -> str:
    return {"integer": "an integer", "number": "a number", "boolean": "true or false"}.get(kind, "a string")


MessageFormSet = forms.formset_factory(MessageRowForm, extra=EXTRA_ROWS, max_num=50, absolute_max=60)
VariableFormSet = forms.formset_factory(VariableRowForm, extra=EXTRA_ROWS, max_num=50, absolute_max=60)


class RouteChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.public_name)


class VersionForm(forms.Form):
    """The settings of a version besides its messages and variables."""

    route = RouteChoiceField(
        queryset=ModelRoute.objects.none(),
        widget=forms.Select(attrs=_SELECT),
        help_text="The model route that answers (one of your chat routes).",
    )
    temperature = forms.FloatField(required=False, widget=forms.NumberInput(attrs={**_TEXT, "step": "0.1"}))
    top_p = forms.FloatField(required=False, widget=forms.NumberInput(attrs={**_TEXT, "step": "0.05"}))
    max_tokens = forms.IntegerField(required=False, widget=forms.NumberInput(attrs=_TEXT))
    stop = forms.CharField(
        required=False,
        help_text="Stop sequences, one per line (at most 4).",
        widget=forms.Textarea(attrs={**_TEXT, "rows": "2"}),
        strip=False,
    )
    response_mode = forms.ChoiceField(choices=ResponseMode.choices, widget=forms.Select(attrs=_SELECT))
    response_schema = forms.CharField(
        required=False,
        help_text="JSON Schema of the answer (response mode json only).",
        widget=forms.Textarea(attrs={**_TEXT, "rows": "6", "class": "form-control font-monospace"}),
    )

    def __init__(self, *args: Any, routes: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["route"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = routes

    def clean_response_schema(self) -> Any:
        raw = self.cleaned_data.get("response_schema", "").strip()
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from None

    def params(self) -> dict[str, Any]:
        data = self.cleaned_data
        params: dict[str, Any] = {}
        for key in ("temperature", "top_p", "max_tokens"):
            if data.get(key) is not None:
                params[key] = data[key]
        stops = [line for line in (data.get("stop") or "").splitlines() if line]
        if stops:
            params["stop"] = stops
        return params


def editor_initial(version: PromptVersion | None) -> tuple[list[dict], list[dict], dict[str, Any]]:
    """Initial rows and settings of the editor, copied from ``version`` (the latest, usually)."""
    if version is None:
        messages = [{"role": "system", "content": ""}, {"role": "user", "content": ""}]
        return messages, [], {"response_mode": ResponseMode.TEXT}
    variables = []
    for decl in version.variables:
        row = {k: decl.get(k) for k in ("name", "type", "required", "description", "max_length")}
        if "default" in decl:
            row["default"] = _plain(decl["default"])
        if decl.get("enum"):
            row["enum"] = ", ".join(_plain(v) for v in decl["enum"])
        variables.append(row)
    params = version.params or {}
    stop = params.get("stop")
    settings = {
        "route": version.route_id,
        "temperature": params.get("temperature"),
        "top_p": params.get("top_p"),
        "max_tokens": params.get("max_tokens"),
        "stop": "\n".join(stop) if isinstance(stop, list) else (stop or ""),
        "response_mode": version.response_mode,
        "response_schema": json.dumps(version.response_schema, indent=2) if version.response_schema else "",
    }
    return list(version.messages), variables, settings


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class PlaygroundForm(forms.Form):
    """One input per variable (text for strings, a number field for numbers, a choice for enums
    and booleans), then "call the model"."""

    def __init__(self, *args: Any, version: PromptVersion, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.version = version
        for decl in version.variables:
            help_text = f"{decl['type']}{', required' if decl.get('required') else ''}"
            if "default" in decl:
                help_text += f", default {_plain(decl['default'])}"
            self.fields[f"var_{decl['name']}"] = forms.CharField(
                label=decl["name"], required=False, strip=False, help_text=help_text, widget=_variable_widget(decl)
            )
        # Last, next to the Run button it changes.
        self.fields["call_model"] = forms.BooleanField(
            required=False, widget=forms.CheckboxInput(attrs=_CHECK), label="Call the model"
        )

    def values(self) -> dict[str, Any]:
        """Typed values: an empty input is left out (so defaults apply); a value of the wrong type
        is passed as text, for the validation to name the problem."""
        out: dict[str, Any] = {}
        for decl in self.version.variables:
            raw = self.cleaned_data.get(f"var_{decl['name']}", "")
            if raw == "":
                continue
            out[decl["name"]] = _parse(raw, decl.get("type", "string"))
        return out


def _variable_widget(decl: dict[str, Any]) -> forms.Widget:
    """The input a variable's type asks for; every value still goes through the prompt's validation."""
    kind, choices = decl.get("type", "string"), decl.get("enum")
    if choices or kind == "boolean":
        options = [_plain(c) for c in choices] if choices else ["true", "false"]
        return forms.Select(attrs=_SELECT, choices=[("", "—"), *[(o, o) for o in options]])
    if kind in ("integer", "number"):
        return forms.TextInput(attrs={**_TEXT, "inputmode": "decimal" if kind == "number" else "numeric"})
    return forms.Textarea(attrs={**_TEXT, "rows": "2"})


def _parse(raw: str, kind: str) -> Any:
    if kind == "string":
        return raw
    text = raw.strip()
    if kind == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if kind in ("integer", "number"):
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return raw
    return raw


class PublishForm(forms.Form):
    base_path = forms.CharField(
        max_length=200,
        help_text="Where consumers call it on the gateway, e.g. /acme-summarise/v1 (unique on the platform).",
        widget=forms.TextInput(attrs={**_TEXT, "placeholder": "/acme-summarise/v1"}),
    )
    label = forms.CharField(max_length=40, initial="v1", widget=forms.TextInput(attrs=_TEXT))
    api = forms.ChoiceField(
        required=False,
        help_text="Add the version to one of your APIs, or register a new API named after the prompt.",
        widget=forms.Select(attrs=_SELECT),
        label="API",
    )
    visibility = forms.ChoiceField(
        choices=Visibility.choices,
        initial=Visibility.PRIVATE,
        required=False,
        help_text="Who finds a new API in the catalog (an existing API keeps its own).",
        widget=forms.Select(attrs=_SELECT),
        label="Visibility of a new API",
    )

    def __init__(self, *args: Any, apis: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["api"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "A new API"), *apis]
