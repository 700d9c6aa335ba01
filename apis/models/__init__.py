"""Models of the apis app; catalog models live in catalog.py (subscriptions and keys will join them)."""

from apis.models.catalog import (
    LISTED_STATUSES,
    ROUTED_STATUSES,
    Api,
    ApiVersion,
    AuditEvent,
    Endpoint,
    Plan,
    PlanStatus,
    SpecStatus,
    VersionKind,
    VersionStatus,
    Visibility,
)

__all__ = [
    "LISTED_STATUSES",
    "ROUTED_STATUSES",
    "Api",
    "ApiVersion",
    "AuditEvent",
    "Endpoint",
    "Plan",
    "PlanStatus",
    "SpecStatus",
    "VersionKind",
    "VersionStatus",
    "Visibility",
]
