"""The catalog's audit trail and the ownership check every catalog service uses."""

from __future__ import annotations

from django.db import models

from apis.models import Api, ApiVersion, AuditEvent, Plan
from tenants.models import Membership, Tenant
from tenants.ownership import check_owned

# --- Audit trail -----------------------------------------------------------------------


def audit_record(
    *,
    actor: Membership | None,
    tenant: Tenant,
    action: str,
    target: models.Model,
    api: Api | None = None,
    from_state: str = "",
    to_state: str = "",
    note: str = "",
) -> AuditEvent:
    """Append one event to the trail; call it inside the transaction of the change it records."""
    user = actor.user if actor is not None else None
    return AuditEvent.objects.create(
        tenant=tenant,
        actor=user,
        actor_email=user.email if user is not None else "",
        action=action,
        target_type=target._meta.model_name or "",
        target_id=target.pk,
        target_label=str(target)[:200],
        api=api,
        from_state=from_state,
        to_state=to_state,
        note=note,
    )


def _check_owned(actor: Membership, obj: Api | ApiVersion | Plan) -> None:
    # Views load objects with for_tenant(); this is the second lock on the same door.
    check_owned(actor, obj)
