from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from apis.markdown import render_markdown
from apis.models import VersionStatus

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    """Render provider Markdown; the output is sanitised by nh3, hence safe to mark."""
    return mark_safe(render_markdown(text))  # noqa: S308 - sanitised just above


_BADGES = {
    VersionStatus.DRAFT: "text-bg-secondary",
    VersionStatus.PUBLISHED: "text-bg-success",
    VersionStatus.DEPRECATED: "text-bg-warning",
    VersionStatus.RETIRED: "text-bg-dark",
}


@register.filter
def status_badge(status: str) -> str:
    return _BADGES.get(status, "text-bg-secondary")


@register.filter
def limit(value: int | None) -> str:
    """A limit for humans: empty means unlimited."""
    return "unlimited" if value is None else f"{value:,}"
