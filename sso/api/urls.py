"""REST endpoints of sso under /api/v1/."""

from django.urls import path

from sso.api import views

urlpatterns = [
    path("tenants/<slug:tenant_slug>/sso/", views.SsoView.as_view(), name="sso-overview"),
]
