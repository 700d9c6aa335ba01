from subscriptions.demo import seed_subscriptions
from subscriptions.tests.factories import membership


def test_demo_subscriptions_are_idempotent_and_skip_missing_apis(globex, charlie, acme):
    # no catalog yet: only the application is created
    assert seed_subscriptions(membership(charlie, globex)) == 0
    from subscriptions.tests.factories import make_catalog

    make_catalog(acme)
    assert seed_subscriptions(membership(charlie, globex)) == 1
    assert seed_subscriptions(membership(charlie, globex)) == 1
    assert globex.applications.get().name == "Storefront"


def test_the_demo_storefront_gets_one_live_key_for_demo_traffic(globex, charlie, acme):
    from subscriptions.models import ApiKey
    from subscriptions.tests.factories import make_catalog

    make_catalog(acme)  # Orders with an automatic "Free" plan, as the demo subscribes to
    seed_subscriptions(membership(charlie, globex))
    seed_subscriptions(membership(charlie, globex))
    keys = ApiKey.objects.for_tenant(globex).live()
    assert [k.name for k in keys] == ["demo traffic"]
