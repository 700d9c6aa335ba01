"""REST URLs of the AI gateway's configuration (prompts: llm/api/prompt_urls.py)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from llm.api import views

router = SimpleRouter()
router.register("providers", views.ProviderViewSet, basename="ai-provider")
router.register("models", views.ModelViewSet, basename="ai-model")
router.register("routes", views.RouteViewSet, basename="ai-route")

provider_router = SimpleRouter()
provider_router.register("credentials", views.CredentialViewSet, basename="ai-credential")

urlpatterns = [
    path("tenants/<slug:tenant_slug>/ai/", include(router.urls)),
    path("tenants/<slug:tenant_slug>/ai/providers/<int:provider_pk>/", include(provider_router.urls)),
    path(
        "tenants/<slug:tenant_slug>/apis/<slug:api_slug>/versions/<str:label>/ai-routes/",
        views.VersionRoutesView.as_view(),
        name="ai-version-routes",
    ),
    path("ai/presets/", views.PresetsView.as_view(), name="ai-presets"),
]
