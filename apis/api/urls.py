from django.urls import include, path
from rest_framework.routers import SimpleRouter

from apis.api import views

tenant_router = SimpleRouter()
tenant_router.register("apis", views.ApiViewSet, basename="api")

api_router = SimpleRouter()
api_router.register("versions", views.VersionViewSet, basename="api-version")
api_router.register("plans", views.PlanViewSet, basename="api-plan")

urlpatterns = [
    path("tenants/<slug:tenant_slug>/", include(tenant_router.urls)),
    path("tenants/<slug:tenant_slug>/apis/<slug:api_slug>/", include(api_router.urls)),
    path("catalog/", views.CatalogListView.as_view(), name="catalog"),
    path("catalog/<slug:provider_slug>/<slug:api_slug>/", views.CatalogDetailView.as_view(), name="catalog-detail"),
    path(
        "catalog/<slug:provider_slug>/<slug:api_slug>/versions/<str:label>/openapi/",
        views.CatalogOpenApiView.as_view(),
        name="catalog-openapi",
    ),
]
