"""Template filters that give third-party pages (allauth's) the portal's wording and Bootstrap look."""

from __future__ import annotations

import re

from django import forms, template
from django.conf import settings

register = template.Library()

_TAG = re.compile(r"(<[^>]*>)")
#: A capitalised word: "Sign", "Two-Factor" is handled per hyphenated part. All-caps words
#: ("TOTP", "API") and mixed case ("iOS") are left alone.
_CAPITALISED = re.compile(r"\b([A-Z])([a-z]+)\b")


@register.filter(is_safe=True)
def sentence_case(value: object) -> str:
    """'Two-Factor Authentication' → 'Two-factor authentication': the portal writes headings,
    labels and buttons in sentence case, allauth in Title Case. Only the first letter of the
    text keeps its capital; the site's own name, acronyms and HTML tags are left as they are.
    A trailing colon (allauth's labels) is dropped too."""
    text = str(value).strip()
    if text.endswith(":"):
        text = text[:-1].rstrip()
    site_name = settings.SITE_NAME
    parts = _TAG.split(text)
    first = True
    for i, part in enumerate(parts):
        if i % 2 or not part.strip():
            continue  # a tag, or whitespace between tags
        chunks = part.split(site_name) if site_name else [part]
        for j, chunk in enumerate(chunks):
            chunks[j] = _lower_words(chunk, keep_first=first)
            if chunk.strip():
                first = False
        parts[i] = site_name.join(chunks) if site_name else chunks[0]
    # is_safe: Django marks the result safe exactly when the input was (only letter case changed).
    return "".join(parts)


def _lower_words(text: str, *, keep_first: bool) -> str:
    start = len(text) - len(text.lstrip())  # where the text's first word begins

    def lower(match: re.Match[str]) -> str:
        if keep_first and match.start() == start:
            return match.group(0)
        return match.group(1).lower() + match.group(2)

    return _CAPITALISED.sub(lower, text)


@register.filter
def bootstrap_field(field: forms.BoundField) -> str:
    """Render a bound field's widget with Bootstrap's classes and its ARIA state."""
    widget = field.field.widget
    if isinstance(widget, forms.CheckboxInput | forms.RadioSelect | forms.CheckboxSelectMultiple):
        css = "form-check-input"
    elif isinstance(widget, forms.Select):
        css = "form-select"
    else:
        css = "form-control"
    attrs: dict[str, str | bool] = {"class": css + (" is-invalid" if field.errors else "")}
    if placeholder := widget.attrs.get("placeholder"):
        attrs["placeholder"] = sentence_case(placeholder)
    described = []
    if field.help_text:
        described.append(f"{field.auto_id}_help")
    if field.errors:
        attrs["aria-invalid"] = "true"
        described.append(f"{field.auto_id}_error")
    if described:
        attrs["aria-describedby"] = " ".join(described)
    return field.as_widget(attrs=attrs)
