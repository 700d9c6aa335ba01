from django.urls import include, path
from rest_framework.routers import SimpleRouter

from notifications.api import views

tenant_router = SimpleRouter()
tenant_router.register("notifications", views.NotificationViewSet, basename="notification")
tenant_router.register("webhooks", views.WebhookViewSet, basename="webhook")

urlpatterns = [
    path("tenants/<slug:tenant_slug>/", include(tenant_router.urls)),
]
