"""Forms of the alert pages: they parse; alerts.services checks (ranges, metric per scope)."""

from __future__ import annotations

from typing import Any

from django import forms

from alerts.models import WINDOW_CHOICES, AlertRule, Metric, QuotaPeriod
from apis.models import Api
from core.limits import max_length
from subscriptions.models import Application

_TEXT = {"class": "form-control"}
_SELECT = {"class": "form-select"}
_CHECK = {"class": "form-check-input"}


class _RuleFields(forms.Form):
    name = forms.CharField(
        required=False,
        max_length=max_length(AlertRule, "name"),
        help_text="Optional; the condition is shown otherwise.",
        widget=forms.TextInput(attrs=_TEXT),
    )
    threshold = forms.DecimalField(
        max_digits=12,
        decimal_places=2,
        widget=forms.NumberInput(attrs={**_TEXT, "step": "any", "inputmode": "decimal"}),
    )
    email = forms.BooleanField(
        required=False,
        label="Also e-mail",
        help_text="Owners and admins get an in-app notice; tick to e-mail them too.",
        widget=forms.CheckboxInput(_CHECK),
    )
    enabled = forms.BooleanField(required=False, initial=True, widget=forms.CheckboxInput(_CHECK))


class AlertRuleForm(_RuleFields):
    """A rule on one of the organisation's APIs or applications (the target is fixed once created)."""

    target = forms.ChoiceField(label="Watch", widget=forms.Select(attrs=_SELECT))
    metric = forms.ChoiceField(
        choices=[c for c in Metric.choices if c[0] != Metric.NODE_SILENT],
        widget=forms.Select(attrs=_SELECT),
        help_text=(
            "Quota, token quota and cost budget use are watched on an application; error rate, p95 and "
            "refused calls on either."
        ),
    )
    window_minutes = forms.TypedChoiceField(
        label="Window",
        choices=WINDOW_CHOICES,
        coerce=int,
        initial=15,
        help_text="Error rate, p95 and refused calls: the last N whole minutes.",
        widget=forms.Select(attrs=_SELECT),
    )
    quota_period = forms.ChoiceField(
        label="Quota period",
        required=False,
        choices=[("", "—"), *QuotaPeriod.choices],
        help_text=(
            "Quota, token quota and cost budget use: the plan's limit of the UTC day or month (e.g. 80 or 100 %)."
        ),
        widget=forms.Select(attrs=_SELECT),
    )
    min_calls = forms.IntegerField(
        label="Minimum calls",
        min_value=1,
        initial=20,
        help_text="Error rate and p95: with fewer calls in the window the rule neither fires nor resolves.",
        widget=forms.NumberInput(attrs={**_TEXT, "inputmode": "numeric"}),
    )

    field_order = ["target", "name", "metric", "threshold", "window_minutes", "quota_period", "min_calls"]

    def __init__(
        self, *args: Any, apis: list[Api], applications: list[Application], editing: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.apis = {str(a.pk): a for a in apis}
        self.applications = {str(a.pk): a for a in applications}
        if editing:
            del self.fields["target"]
        else:
            target = self.fields["target"]
            assert isinstance(target, forms.ChoiceField)
            target.choices = [
                ("", "Choose an API or an application"),
                ("APIs you provide", [(f"api:{a.pk}", a.name) for a in apis]),
                ("Your applications", [(f"application:{a.pk}", a.name) for a in applications]),
            ]

    def clean_target(self) -> dict[str, Any]:
        kind, _, pk = (self.cleaned_data.get("target") or "").partition(":")
        if kind == "api" and pk in self.apis:
            return {"api": self.apis[pk]}
        if kind == "application" and pk in self.applications:
            return {"application": self.applications[pk]}
        raise forms.ValidationError("Choose an API or an application.")

    def service_kwargs(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        return {**data.pop("target", {}), **data}


class PlatformRuleForm(_RuleFields):
    """Staff: a gateway node that has not been heard from for ``threshold`` seconds."""

    field_order = ["name", "threshold", "email", "enabled"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["threshold"].label = "Silent for (seconds)"
        self.fields["threshold"].help_text = "Fires for each active node not heard from for this long (30–86,400)."
        self.fields["email"].help_text = "E-mail every staff member (the platform alerts page lists them anyway)."
