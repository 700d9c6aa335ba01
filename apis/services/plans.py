"""Writes to plans: create, update, archive / restore, delete."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from apis.models import Api, Plan, PlanStatus
from apis.models.catalog import PLAN_AI_LIMIT_FIELDS, PLAN_LIMIT_FIELDS
from apis.services.audit import _check_owned, audit_record
from core.deletion import protected_dependents
from core.errors import Conflict, InvalidInput, reject_unknown_fields
from core.validators import clean_text as _text
from tenants.models import Membership
from tenants.ownership import get_owned
from tenants.permissions import require
from tenants.roles import Perm

# --- Plans -----------------------------------------------------------------------------


def _limit(value: Any, field: str) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise InvalidInput("Enter a whole number, or leave empty for no limit.", field=field)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput("Enter a whole number, or leave empty for no limit.", field=field) from None
    if number <= 0 or str(number) != str(value).strip():
        raise InvalidInput("Must be a positive whole number (leave empty for no limit).", field=field)
    if number > 10**15:
        raise InvalidInput("That number is too large.", field=field)
    return number


def _budget(value: Any, field: str) -> Decimal | None:
    """A cost budget in USD (4 decimal places at most), or None for no budget."""
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise InvalidInput("Enter an amount in USD, or leave empty for no budget.", field=field)
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput("Enter an amount in USD, or leave empty for no budget.", field=field) from None
    if not amount.is_finite() or amount <= 0:
        raise InvalidInput("Must be a positive amount (leave empty for no budget).", field=field)
    if amount >= Decimal(10) ** 10 or amount != amount.quantize(Decimal("0.0001")):
        raise InvalidInput("At most 9,999,999,999 USD with 4 decimal places.", field=field)
    return amount


def _plan_fields(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "name" in data:
        out["name"] = _text(data["name"], field="name", max_length=60, required=True)
    if "description" in data:
        out["description"] = _text(data["description"], field="description", max_length=5000, single_line=False)
    for field in PLAN_LIMIT_FIELDS:
        if field in data:
            out[field] = _limit(data[field], field)
    for field in PLAN_AI_LIMIT_FIELDS:
        if field in data:
            out[field] = _budget(data[field], field) if field.startswith("cost_") else _limit(data[field], field)
    for field in ("approval_required", "is_public"):
        if field in data:
            if not isinstance(data[field], bool):
                raise InvalidInput("Must be true or false.", field=field)
            out[field] = data[field]
    if "price_label" in data:
        out["price_label"] = _text(data["price_label"], field="price_label", max_length=60)
    per_second, per_minute = out.get("rate_limit_per_second"), out.get("rate_limit_per_minute")
    if per_second and per_minute and per_second > per_minute:
        raise InvalidInput(
            "The per-second limit is higher than the per-minute limit; it could never be reached.",
            field="rate_limit_per_second",
        )
    per_day, per_month = out.get("quota_per_day"), out.get("quota_per_month")
    if per_day and per_month and per_day > per_month:
        raise InvalidInput("The daily quota is higher than the monthly quota.", field="quota_per_day")
    for day, month, what in (
        ("token_quota_per_day", "token_quota_per_month", "token quota"),
        ("cost_budget_per_day", "cost_budget_per_month", "cost budget"),
    ):
        if out.get(day) and out.get(month) and out[day] > out[month]:
            raise InvalidInput(f"The daily {what} is higher than the monthly {what}.", field=day)
    return out


def check_plan_name_free(api: Api, name: str, *, exclude_pk: int | None = None) -> None:
    if Plan.objects.for_tenant(api.tenant_id).filter(api=api, name__iexact=name).exclude(pk=exclude_pk).exists():
        raise InvalidInput(f"This API already has a plan called “{name}”.", code="plan_name_taken", field="name")


@transaction.atomic
def plan_create(
    *,
    actor: Membership,
    api: Api,
    name: str,
    description: str = "",
    rate_limit_per_second: int | None = None,
    rate_limit_per_minute: int | None = None,
    quota_per_day: int | None = None,
    quota_per_month: int | None = None,
    approval_required: bool = False,
    is_public: bool = True,
    price_label: str = "",
    **ai_limits: Any,
) -> Plan:
    """A plan of ``api``; ``ai_limits`` are Plan.AI_LIMIT_FIELDS (token limits, USD budgets) for AI versions."""
    require(actor, Perm.APIS_EDIT)
    _check_owned(actor, api)
    reject_unknown_fields(ai_limits, PLAN_AI_LIMIT_FIELDS)
    fields = _plan_fields(
        {
            "name": name,
            "description": description,
            "rate_limit_per_second": rate_limit_per_second,
            "rate_limit_per_minute": rate_limit_per_minute,
            "quota_per_day": quota_per_day,
            "quota_per_month": quota_per_month,
            "approval_required": approval_required,
            "is_public": is_public,
            "price_label": price_label,
            **ai_limits,
        }
    )
    check_plan_name_free(api, fields["name"])
    try:
        with transaction.atomic():
            plan = Plan.objects.create(tenant=actor.tenant, api=api, **fields)
    except IntegrityError:
        raise InvalidInput(
            f"This API already has a plan called “{fields['name']}”.", code="plan_name_taken", field="name"
        ) from None
    audit_record(actor=actor, tenant=api.tenant, action="plan.created", target=plan, api=api, to_state=plan.status)
    return plan


@transaction.atomic
def plan_update(*, actor: Membership, plan: Plan, **changes: Any) -> Plan:
    """Change a plan's terms. New limits apply to existing subscribers at the next gateway sync."""
    require(actor, Perm.APIS_EDIT)
    _check_owned(actor, plan)
    allowed = {
        "name",
        "description",
        "approval_required",
        "is_public",
        "price_label",
        *PLAN_LIMIT_FIELDS,
        *PLAN_AI_LIMIT_FIELDS,
    }
    reject_unknown_fields(changes, allowed)
    plan = get_owned(actor, plan, lock=True, related=("api",))
    # Validate the merged terms so cross-field rules (per second <= per minute) see both values.
    merged = {field: getattr(plan, field) for field in allowed} | changes
    fields = {key: value for key, value in _plan_fields(merged).items() if key in changes}
    if "name" in fields and fields["name"].lower() != plan.name.lower():
        check_plan_name_free(plan.api, fields["name"], exclude_pk=plan.pk)
    changed = [name for name, value in fields.items() if getattr(plan, name) != value]
    if not changed:
        return plan
    for name in changed:
        setattr(plan, name, fields[name])
    plan.updated_at = timezone.now()
    try:
        with transaction.atomic():
            plan.save()
    except IntegrityError:
        raise InvalidInput(
            f"This API already has a plan called “{plan.name}”.", code="plan_name_taken", field="name"
        ) from None
    audit_record(
        actor=actor,
        tenant=plan.tenant,
        action="plan.updated",
        target=plan,
        api=plan.api,
        note="Changed: " + ", ".join(changed),
    )
    return plan


def _plan_status(actor: Membership, plan: Plan, to: PlanStatus, note: str) -> Plan:
    require(actor, Perm.APIS_EDIT)
    _check_owned(actor, plan)
    plan = get_owned(actor, plan, lock=True, related=("api",))
    if plan.status == to:
        raise Conflict(f"The plan is already {to.label.lower()}.", code="invalid_transition")
    old = plan.status
    plan.status = to
    plan.updated_at = timezone.now()
    plan.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=actor,
        tenant=plan.tenant,
        action="plan.archived" if to == PlanStatus.ARCHIVED else "plan.restored",
        target=plan,
        api=plan.api,
        from_state=old,
        to_state=to,
        note=_text(note, field="note", max_length=2000, single_line=False),
    )
    return plan


@transaction.atomic
def plan_archive(*, actor: Membership, plan: Plan, note: str = "") -> Plan:
    """Stop offering the plan; existing subscribers keep it (the subscriptions issue decides more)."""
    return _plan_status(actor, plan, PlanStatus.ARCHIVED, note)


@transaction.atomic
def plan_restore(*, actor: Membership, plan: Plan, note: str = "") -> Plan:
    return _plan_status(actor, plan, PlanStatus.ACTIVE, note)


def plan_delete_refusal(plan: Plan, *, protected: bool | None = None) -> Conflict | None:
    """Why ``plan`` cannot be deleted (the 409 to raise), or None when it can.

    A plan that has (or had) a subscription of any status, or a pending move to it, is kept
    for ever: it is archived instead (docs/decisions.md). A list of plans passes ``protected``
    (from ``core.deletion.protected_ids``) instead of asking once per plan.
    """
    if protected is None:
        protected = bool(protected_dependents(plan))
    if not protected:
        return None
    if plan.status == PlanStatus.ARCHIVED:
        advice = "It stays archived: subscribers and their history still refer to it."
    else:
        advice = "Archive the plan instead: new subscribers can no longer choose it, existing ones keep it."
    return Conflict(
        f"The plan “{plan.name}” has subscription history and cannot be deleted. {advice}",
        code="has_subscriptions",
    )


@transaction.atomic
def plan_delete(*, actor: Membership, plan: Plan) -> None:
    """Delete a plan nobody ever subscribed to; otherwise 409 (archive it instead)."""
    require(actor, Perm.APIS_EDIT)
    _check_owned(actor, plan)
    plan = get_owned(actor, plan, lock=True, related=("api",))
    refusal = plan_delete_refusal(plan)
    if refusal is not None:
        raise refusal
    audit_record(actor=actor, tenant=plan.tenant, action="plan.deleted", target=plan, api=plan.api)
    try:
        with transaction.atomic():
            plan.delete()
    except ProtectedError:
        raise Conflict(
            f"The plan “{plan.name}” has subscription history and cannot be deleted. Archive the plan instead.",
            code="has_subscriptions",
        ) from None
