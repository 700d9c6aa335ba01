"""Web pages of the AI gateway's configuration (included under "t/" by portal/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from llm import views

app_name = "llm"

_P = "<slug:slug>/ai/providers/<int:pk>/"

urlpatterns: list[URLPattern | URLResolver] = [
    # The section's own address shows its first page (a redirect would answer strangers 302, not 404).
    path("<slug:slug>/ai/", views.provider_list, name="home"),
    path("<slug:slug>/ai/providers/", views.provider_list, name="providers"),
    path("<slug:slug>/ai/providers/new/", views.provider_create, name="provider-create"),
    path(_P, views.provider_detail, name="provider"),
    path(_P + "edit/", views.provider_edit, name="provider-edit"),
    path(_P + "delete/", views.provider_delete, name="provider-delete"),
    path(_P + "credentials/new/", views.credential_create, name="credential-create"),
    path(_P + "credentials/<int:credential_pk>/", views.credential_edit, name="credential-edit"),
    path(_P + "credentials/<int:credential_pk>/delete/", views.credential_delete, name="credential-delete"),
    path(_P + "models/new/", views.model_create, name="model-create"),
    path("<slug:slug>/ai/models/<int:pk>/", views.model_detail, name="model"),
    path("<slug:slug>/ai/models/<int:pk>/prices/", views.price_add, name="price-add"),
    path("<slug:slug>/ai/models/<int:pk>/delete/", views.model_delete, name="model-delete"),
    path("<slug:slug>/ai/routes/", views.route_list, name="routes"),
    path("<slug:slug>/ai/routes/new/", views.route_create, name="route-create"),
    path("<slug:slug>/ai/routes/<int:pk>/", views.route_detail, name="route"),
    path("<slug:slug>/ai/routes/<int:pk>/edit/", views.route_edit, name="route-edit"),
    path("<slug:slug>/ai/routes/<int:pk>/delete/", views.route_delete, name="route-delete"),
    path("<slug:slug>/apis/<slug:api_slug>/ai/versions/new/", views.ai_version_create, name="version-create"),
    path(
        "<slug:slug>/apis/<slug:api_slug>/ai/versions/<str:label>/routes/",
        views.ai_version_routes,
        name="version-routes",
    ),
]
