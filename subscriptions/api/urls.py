from django.urls import include, path
from rest_framework.routers import SimpleRouter

from subscriptions.api import views

tenant_router = SimpleRouter()
tenant_router.register("applications", views.ApplicationViewSet, basename="application")
tenant_router.register("subscriptions", views.SubscriptionViewSet, basename="subscription")
tenant_router.register("provided-subscriptions", views.ProvidedSubscriptionViewSet, basename="provided-subscription")
tenant_router.register("keys", views.KeyViewSet, basename="key")

platform_router = SimpleRouter()
platform_router.register("approvals", views.PlatformApprovalViewSet, basename="platform-approval")

urlpatterns = [
    path("platform/", include(platform_router.urls)),
    path("tenants/<slug:tenant_slug>/", include(tenant_router.urls)),
]
