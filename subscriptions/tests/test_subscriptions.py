from datetime import date, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apis.models import VersionStatus
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from notifications.models import Notification
from subscriptions import services
from subscriptions.models import Subscription, SubscriptionEvent, SubscriptionStatus
from subscriptions.tests.factories import ApplicationFactory, membership
from tenants.tests.factories import MembershipFactory, UserFactory

S = SubscriptionStatus


def _events(subscription):
    return list(
        SubscriptionEvent.objects.for_party(subscription.consumer_tenant)
        .filter(subscription=subscription)
        .values_list("action", "from_state", "to_state")
    )


def test_plan_without_approval_is_active_at_once(catalog, shop, charlie_m):
    sub = services.subscription_request(actor=charlie_m, application=shop, plan=catalog.free)
    assert sub.status == S.ACTIVE and sub.awaiting_since is None
    assert sub.provider_tenant == catalog.api.tenant and sub.version == catalog.v1
    assert _events(sub) == [("subscription.approved", "", "active")]


def test_request_emails_provider_admins_and_notifies_in_app(
    catalog, shop, charlie_m, alice, bob, vera, django_capture_on_commit_callbacks
):
    admin = MembershipFactory(tenant=catalog.api.tenant, role="admin", user=UserFactory(email="ada@acme.example")).user
    with django_capture_on_commit_callbacks(execute=True):
        sub = services.subscription_request(
            actor=charlie_m, application=shop, plan=catalog.gold, use_case="Sync orders nightly"
        )
    assert sub.status == S.PENDING and sub.awaiting_since is not None
    recipients = sorted(m.to[0] for m in mail.outbox)
    assert recipients == sorted([alice.email, admin.email])  # not bob (developer) nor vera (viewer)
    assert "Globex Retail requests Orders API (Gold)" in mail.outbox[0].subject
    assert "Sync orders nightly" in mail.outbox[0].body
    assert Notification.objects.for_member(catalog.api.tenant, alice).unread().count() == 1
    assert not Notification.objects.for_member(catalog.api.tenant, bob).exists()


def test_approval_emails_the_requester(pending_sub, alice_m, charlie, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sub = services.subscription_approve(actor=alice_m, subscription=pending_sub)
    assert sub.status == S.ACTIVE and sub.awaiting_since is None and sub.decided_by == alice_m.user
    assert [m.to for m in mail.outbox] == [[charlie.email]]
    assert "approved" in mail.outbox[0].subject
    assert _events(sub)[-1] == ("subscription.approved", "pending", "active")


def test_reject_needs_a_reason_shown_to_the_requester(
    pending_sub, alice_m, charlie, django_capture_on_commit_callbacks
):
    with pytest.raises(InvalidInput, match="Give a reason"):
        services.subscription_reject(actor=alice_m, subscription=pending_sub, reason="  ")
    with django_capture_on_commit_callbacks(execute=True):
        sub = services.subscription_reject(actor=alice_m, subscription=pending_sub, reason="Try the Free plan first.")
    assert sub.status == S.REJECTED and sub.reason == "Try the Free plan first."
    assert "Try the Free plan first." in mail.outbox[0].body
    event = SubscriptionEvent.objects.for_consumer(sub.consumer_tenant).get(action="subscription.rejected")
    assert (event.actor_email, event.from_state, event.to_state, event.note) == (
        "alice@acme.example",
        "pending",
        "rejected",
        "Try the Free plan first.",
    )


def test_a_request_cannot_be_decided_twice(pending_sub, alice_m):
    services.subscription_approve(actor=alice_m, subscription=pending_sub)
    with pytest.raises(Conflict, match="already been decided") as error:
        services.subscription_reject(actor=alice_m, subscription=pending_sub, reason="too late")
    assert error.value.status_code == 409
    with pytest.raises(Conflict):
        services.subscription_approve(actor=alice_m, subscription=pending_sub)


def test_developers_and_viewers_cannot_decide(pending_sub, acme, bob, vera):
    for user in (bob, vera):
        with pytest.raises(Forbidden, match="decide subscription requests"):
            services.subscription_approve(actor=membership(user, acme), subscription=pending_sub)
    pending_sub.refresh_from_db()
    assert pending_sub.status == S.PENDING


def test_consumer_cannot_approve_its_own_request(pending_sub, charlie_m):
    with pytest.raises(NotFound):
        services.subscription_approve(actor=charlie_m, subscription=pending_sub)


def test_own_admin_may_approve_own_request_when_also_provider(catalog, acme, alice_m):
    app = ApplicationFactory(tenant=acme, name="Internal tool")
    sub = services.subscription_request(actor=alice_m, application=app, plan=catalog.gold, use_case="Dogfooding")
    assert services.subscription_approve(actor=alice_m, subscription=sub).status == S.ACTIVE


def test_staff_decide_from_the_global_queue(pending_sub):
    staff = UserFactory(is_staff=True)
    sub = services.subscription_approve(actor=services.StaffActor(user=staff), subscription=pending_sub)
    assert sub.status == S.ACTIVE and sub.decided_by == staff
    with pytest.raises(Forbidden):
        services.subscription_approve(actor=services.StaffActor(user=UserFactory()), subscription=pending_sub)


@pytest.mark.parametrize("which", ["hidden", "archived"])
def test_hidden_and_archived_plans_are_refused(catalog, shop, charlie_m, which):
    # Same answer as an unknown plan: the refusal does not confirm that the plan exists.
    with pytest.raises(NotFound, match="No such plan"):
        services.subscription_request(actor=charlie_m, application=shop, plan=getattr(catalog, which), use_case="x")


def test_draft_and_retired_versions_are_refused(catalog, shop, charlie_m):
    with pytest.raises(InvalidInput, match="not published"):
        services.subscription_request(actor=charlie_m, application=shop, plan=catalog.free, version=catalog.v2_draft.pk)
    with pytest.raises(InvalidInput, match="retired"):
        services.subscription_request(
            actor=charlie_m, application=shop, plan=catalog.free, version=catalog.v0_retired.pk
        )


def test_private_api_plan_is_unknown_to_strangers(acme, shop, charlie_m):
    from subscriptions.tests.factories import make_catalog

    private = make_catalog(acme, slug="secret", visibility="private")
    with pytest.raises(NotFound, match="No such plan"):
        services.subscription_request(actor=charlie_m, application=shop, plan=private.free)


def test_duplicate_request_is_a_conflict(catalog, shop, charlie_m):
    services.subscription_request(actor=charlie_m, application=shop, plan=catalog.gold, use_case="x")
    with pytest.raises(Conflict, match="already waiting"):
        services.subscription_request(actor=charlie_m, application=shop, plan=catalog.free)
    assert Subscription.objects.for_consumer(shop.tenant).count() == 1


def test_active_subscription_plus_new_request_says_use_plan_change(active_sub, catalog, shop, charlie_m):
    with pytest.raises(Conflict, match="request a plan change instead"):
        services.subscription_request(actor=charlie_m, application=shop, plan=catalog.gold, use_case="more")


def test_approval_plan_needs_a_use_case(catalog, shop, charlie_m):
    with pytest.raises(InvalidInput, match="what you will use the API for"):
        services.subscription_request(actor=charlie_m, application=shop, plan=catalog.gold)


def test_viewer_of_consumer_cannot_request(catalog, globex, shop):
    viewer = MembershipFactory(tenant=globex, role="viewer")
    with pytest.raises(Forbidden):
        services.subscription_request(actor=viewer, application=shop, plan=catalog.free)


def test_plan_change_request_keeps_old_plan_until_decided(active_sub, catalog, charlie_m, alice_m):
    sub = services.subscription_change_plan(actor=charlie_m, subscription=active_sub, plan=catalog.gold, note="More")
    assert sub.plan == catalog.free and sub.requested_plan == catalog.gold and sub.awaiting_since
    with pytest.raises(Conflict, match="already waiting"):
        services.subscription_change_plan(actor=charlie_m, subscription=active_sub, plan=catalog.gold)
    sub = services.subscription_approve(actor=alice_m, subscription=sub)
    assert sub.plan == catalog.gold and sub.requested_plan is None and sub.status == S.ACTIVE
    with pytest.raises(Conflict, match="already been decided"):
        services.subscription_approve(actor=alice_m, subscription=sub)


def test_rejected_plan_change_stays_on_old_plan(active_sub, catalog, charlie_m, alice_m):
    services.subscription_change_plan(actor=charlie_m, subscription=active_sub, plan=catalog.gold)
    sub = services.subscription_reject(actor=alice_m, subscription=active_sub, reason="Not now")
    assert sub.status == S.ACTIVE and sub.plan == catalog.free and sub.requested_plan is None
    assert "subscription.plan_change_rejected" in [a for a, *_ in _events(sub)]


def test_plan_change_to_automatic_plan_applies_at_once(catalog, shop, charlie_m):
    sub = services.subscription_request(actor=charlie_m, application=shop, plan=catalog.gold, use_case="x")
    with pytest.raises(Conflict, match="Only active subscriptions"):
        services.subscription_change_plan(actor=charlie_m, subscription=sub, plan=catalog.free)
    sub.status = S.ACTIVE
    sub.awaiting_since = None
    sub.save()
    sub = services.subscription_change_plan(actor=charlie_m, subscription=sub, plan=catalog.free)
    assert sub.plan == catalog.free and sub.awaiting_since is None
    with pytest.raises(InvalidInput, match="already on this plan"):
        services.subscription_change_plan(actor=charlie_m, subscription=sub, plan=catalog.free)


def test_suspend_resume_and_cancel(active_sub, alice_m, charlie_m, charlie, django_capture_on_commit_callbacks):
    with pytest.raises(InvalidInput, match="reason"):
        services.subscription_suspend(actor=alice_m, subscription=active_sub, reason="")
    with django_capture_on_commit_callbacks(execute=True):
        services.subscription_suspend(actor=alice_m, subscription=active_sub, reason="Abuse detected")
    assert "suspended" in mail.outbox[-1].subject and "Abuse detected" in mail.outbox[-1].body
    with pytest.raises(Conflict):
        services.subscription_suspend(actor=alice_m, subscription=active_sub, reason="again")
    services.subscription_resume(actor=alice_m, subscription=active_sub)
    sub = services.subscription_cancel(actor=charlie_m, subscription=active_sub, reason="No longer needed")
    assert sub.status == S.CANCELLED
    with pytest.raises(Conflict):
        services.subscription_cancel(actor=alice_m, subscription=active_sub)
    assert [(f, t) for _, f, t in _events(sub)] == [
        ("active", "suspended"),
        ("suspended", "active"),
        ("active", "cancelled"),
    ]
    # once cancelled, the application may subscribe again
    services.subscription_request(actor=charlie_m, application=active_sub.application, plan=active_sub.plan)


def test_provider_may_cancel_consumer_is_told(active_sub, alice_m, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.subscription_cancel(actor=alice_m, subscription=active_sub, reason="Contract ended")
    assert "cancelled" in mail.outbox[0].subject and "Contract ended" in mail.outbox[0].body


def test_bulk_decide_skips_what_is_decided_or_foreign(catalog, shop, charlie_m, alice_m, globex):
    other = ApplicationFactory(tenant=globex, name="Other")
    a = services.subscription_request(actor=charlie_m, application=shop, plan=catalog.gold, use_case="a")
    b = services.subscription_request(actor=charlie_m, application=other, plan=catalog.gold, use_case="b")
    services.subscription_approve(actor=alice_m, subscription=b)
    decided, skipped = services.subscriptions_bulk_decide(
        actor=alice_m, subscription_ids=[a.pk, b.pk, 999999], approve=True
    )
    assert [s.pk for s in decided] == [a.pk]
    assert skipped == {b.pk: "This request has already been decided.", 999999: "No such request."}
    with pytest.raises(InvalidInput, match="reason"):
        services.subscriptions_bulk_decide(actor=alice_m, subscription_ids=[a.pk], approve=False)


def test_deprecation_notice_once_and_retirement_ends_with_notice(
    active_sub, catalog, charlie, django_capture_on_commit_callbacks
):
    v1 = catalog.v1
    v1.status = VersionStatus.DEPRECATED
    v1.sunset_date = date(2030, 1, 31)
    v1.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.subscriptions_sync_lifecycle() == {"notified": 1, "ended": 0}
        assert services.subscriptions_sync_lifecycle() == {"notified": 0, "ended": 0}
    assert len(mail.outbox) == 1 and "deprecated" in mail.outbox[0].subject
    assert "2030-01-31" in mail.outbox[0].body
    # deprecated versions still serve the subscription
    active_sub.refresh_from_db()
    assert active_sub.status == S.ACTIVE
    v1.status = VersionStatus.RETIRED
    v1.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.subscriptions_sync_lifecycle() == {"notified": 0, "ended": 1}
    active_sub.refresh_from_db()
    assert active_sub.status == S.CANCELLED and "retired" in active_sub.reason
    assert "retired" in mail.outbox[-1].subject


def test_pending_waits_are_reported_in_the_queue(catalog, shop, charlie_m, alice_m):
    from subscriptions.selectors import approval_queue

    sub = services.subscription_request(actor=charlie_m, application=shop, plan=catalog.gold, use_case="x")
    Subscription.objects.for_provider(catalog.api.tenant).filter(pk=sub.pk).update(
        awaiting_since=timezone.now() - timedelta(hours=30)
    )
    assert list(approval_queue(catalog.api.tenant, min_age_hours=24)) == [sub]
    assert list(approval_queue(catalog.api.tenant, min_age_hours=72)) == []
    assert list(approval_queue(catalog.api.tenant, plan=catalog.free.pk)) == []
    assert list(approval_queue(catalog.api.tenant, plan=catalog.gold.pk, api=catalog.api.pk)) == [sub]
