"""Web pages of the catalog: provider management under /t/<slug>/apis/, the catalog under /catalog/."""

from django.urls import path

from apis import views

app_name = "apis"

_API = "t/<slug:slug>/apis/<slug:api_slug>/"
_VERSION = _API + "versions/<str:label>/"

urlpatterns = [
    path("t/<slug:slug>/apis/", views.api_list, name="list"),
    path("t/<slug:slug>/apis/new/", views.api_create, name="create"),
    path(_API, views.api_detail, name="detail"),
    path(_API + "edit/", views.api_edit, name="edit"),
    path(_API + "delete/", views.api_delete, name="delete"),
    path(_API + "versions/new/", views.version_create, name="version-create"),
    path(_VERSION, views.version_detail, name="version"),
    path(_VERSION + "edit/", views.version_edit, name="version-edit"),
    path(_VERSION + "openapi/", views.version_spec, name="version-spec"),
    path(_VERSION + "preview/", views.version_preview, name="version-preview"),
    path(_VERSION + "preview/openapi.json", views.version_preview_openapi, name="version-preview-openapi"),
    path(_VERSION + "delete/", views.version_delete, name="version-delete"),
    path(_VERSION + "<str:action>/", views.version_transition, name="version-transition"),
    path(_API + "plans/new/", views.plan_create, name="plan-create"),
    path(_API + "plans/<int:pk>/", views.plan_edit, name="plan-edit"),
    path(_API + "plans/<int:pk>/<str:action>/", views.plan_action, name="plan-action"),
    path("catalog/", views.catalog, name="catalog"),
    path("catalog/<slug:provider_slug>/<slug:api_slug>/", views.catalog_detail, name="catalog-detail"),
    path(
        "catalog/<slug:provider_slug>/<slug:api_slug>/<str:label>/openapi.json",
        views.catalog_openapi,
        name="catalog-openapi",
    ),
]
