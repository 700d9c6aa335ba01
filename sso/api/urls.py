"""REST endpoints of sso under /api/v1/tenants/<slug>/sso/."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from sso.api import views

router = SimpleRouter()
router.register("domains", views.SsoDomainViewSet, basename="sso-domain")
router.register("group-mappings", views.SsoGroupMappingViewSet, basename="sso-group-mapping")

_SSO = "tenants/<slug:tenant_slug>/sso/"

urlpatterns = [
    path(_SSO, views.SsoView.as_view(), name="sso-overview"),
    path(_SSO + "provider/", views.SsoProviderView.as_view(), name="sso-provider"),
    path(_SSO + "discover/", views.SsoDiscoverView.as_view(), name="sso-discover"),
    path(_SSO, include(router.urls)),
]
