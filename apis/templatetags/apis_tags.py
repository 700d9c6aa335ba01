from __future__ import annotations

from django import template

from apis.models import VersionStatus
from core import formatting

register = template.Library()


_BADGES: dict[str, str] = {
    VersionStatus.DRAFT: "text-bg-secondary",
    VersionStatus.PUBLISHED: "text-bg-success",
    VersionStatus.DEPRECATED: "text-bg-warning",
    VersionStatus.RETIRED: "text-bg-dark",
}


@register.filter
def status_badge(status: str) -> str:
    return _BADGES.get(status, "text-bg-secondary")


@register.filter
def limit(value: int | None, per: str = "") -> str:
    """A limit for humans (core.formatting): ``10,000,000 / month``; empty means unlimited."""
    return formatting.limit(value, per)
