"""REST endpoints of alerts under /api/v1/tenants/<slug>/alerts/."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from alerts.api import views

router = SimpleRouter()
router.register("rules", views.AlertRuleViewSet, basename="alert-rule")
router.register("events", views.AlertEventViewSet, basename="alert-event")

urlpatterns = [
    path("tenants/<slug:tenant_slug>/alerts/", include(router.urls)),
]
