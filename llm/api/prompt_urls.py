"""/api/v1/tenants/{tenant_slug}/prompts/…: prompt templates, versions, publishing, playground."""

from django.urls import URLPattern, URLResolver, include, path
from rest_framework.routers import SimpleRouter

from llm.api import prompt_views as views

tenant_router = SimpleRouter()
tenant_router.register("prompts", views.PromptTemplateViewSet, basename="prompt")

prompt_router = SimpleRouter()
prompt_router.register("versions", views.PromptVersionViewSet, basename="prompt-version")

urlpatterns: list[URLPattern | URLResolver] = [
    path("tenants/<slug:tenant_slug>/", include(tenant_router.urls)),
    path("tenants/<slug:tenant_slug>/prompts/<slug:prompt_slug>/", include(prompt_router.urls)),
]
