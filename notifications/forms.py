from __future__ import annotations

from django import forms

from core.limits import max_length
from notifications.models import WEBHOOK_EVENT_CHOICES, Webhook

_TEXT = {"class": "form-control"}


class WebhookForm(forms.Form):
    url = forms.URLField(
        label="Payload URL",
        max_length=max_length(Webhook, "url"),
        assume_scheme="https",
        widget=forms.URLInput(attrs={**_TEXT, "placeholder": "https://example.com/hooks/portal"}),
    )
    events = forms.MultipleChoiceField(
        choices=[choice for choice in WEBHOOK_EVENT_CHOICES if choice[0].endswith(".*")],
        initial=["subscription.*", "key.*"],
        widget=forms.CheckboxSelectMultiple,
        help_text="Event families to receive.",
    )
    secret = forms.CharField(
        required=False,
        max_length=max_length(Webhook, "secret"),
        help_text="Leave empty to generate one. Used to sign every request (HMAC-SHA256).",
        widget=forms.TextInput(attrs={**_TEXT, "autocomplete": "off"}),
    )
    description = forms.CharField(
        required=False, max_length=max_length(Webhook, "description"), widget=forms.TextInput(attrs=_TEXT)
    )
