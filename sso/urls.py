"""Pages of sso: /sso/… for signing in and e-mail links, /t/<slug>/settings/sso/… for owners."""

from django.urls import path

from sso import views

app_name = "sso"

_SETTINGS = "t/<slug:slug>/settings/sso/"

urlpatterns = [
    path("sso/start/", views.start, name="start"),
    path("sso/verify-domain/<str:token>/", views.verify_domain_link, name="verify-domain"),
    path(_SETTINGS, views.settings_page, name="settings"),
    path(_SETTINGS + "discover/", views.discover, name="discover"),
    path(_SETTINGS + "delete/", views.provider_delete, name="provider-delete"),
    path(_SETTINGS + "test/", views.test_sign_in, name="test"),
    path(_SETTINGS + "domains/", views.domain_add, name="domain-add"),
    path(_SETTINGS + "domains/<int:pk>/verify/", views.domain_verify, name="domain-verify"),
    path(_SETTINGS + "domains/<int:pk>/email/", views.domain_email, name="domain-email"),
    path(_SETTINGS + "domains/<int:pk>/remove/", views.domain_remove, name="domain-remove"),
    path(_SETTINGS + "groups/", views.mapping_add, name="mapping-add"),
    path(_SETTINGS + "groups/<int:pk>/remove/", views.mapping_remove, name="mapping-remove"),
]
