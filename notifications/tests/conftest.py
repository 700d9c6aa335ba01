# The subscription fixtures (catalog, shop, active_sub, …) are shared with these tests.
from subscriptions.tests.conftest import active_sub, alice_m, catalog, charlie_m, pending_sub, shop

__all__ = ["active_sub", "alice_m", "catalog", "charlie_m", "pending_sub", "shop"]
