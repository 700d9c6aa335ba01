from __future__ import annotations

from django import forms

from core.limits import max_length
from gateways.models import GatewayNode


class NodeForm(forms.Form):
    name = forms.CharField(max_length=max_length(GatewayNode, "name"), help_text="e.g. edge-eu-1")
    description = forms.CharField(max_length=max_length(GatewayNode, "description"), required=False)
