"""REST endpoints of sso under /api/v1/."""

urlpatterns: list = []
