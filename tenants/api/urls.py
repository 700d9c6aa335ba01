from django.urls import include, path
from rest_framework.routers import SimpleRouter

from tenants.api import views

router = SimpleRouter()
router.register("tenants", views.TenantViewSet, basename="tenant")

tenant_router = SimpleRouter()
tenant_router.register("members", views.MemberViewSet, basename="member")
tenant_router.register("invitations", views.InvitationViewSet, basename="invitation")
tenant_router.register("tokens", views.TokenViewSet, basename="token")

platform_router = SimpleRouter()
platform_router.register("tenants", views.PlatformTenantViewSet, basename="platform-tenant")

urlpatterns = [
    path("me/", views.MeView.as_view(), name="me"),
    path("invitations/", views.MyInvitationsView.as_view(), name="my-invitations"),
    path("invitations/accept/", views.InvitationAcceptView.as_view(), name="invitation-accept"),
    path("", include(router.urls)),
    path("tenants/<slug:tenant_slug>/", include(tenant_router.urls)),
    path("platform/", include(platform_router.urls)),
]
