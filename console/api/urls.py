"""REST endpoints of console under /api/v1/."""

urlpatterns: list = []
