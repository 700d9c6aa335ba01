"""REST endpoints of alerts under /api/v1/."""

urlpatterns: list = []
