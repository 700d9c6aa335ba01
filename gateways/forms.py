from __future__ import annotations

from django import forms


class NodeForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="e.g. edge-eu-1")
    description = forms.CharField(max_length=500, required=False)
