"""Web pages of prompts: /t/<slug>/ai/prompts/… (included under "t/" by portal/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from llm import prompt_views as views

app_name = "prompts"

_PROMPT = "<slug:slug>/ai/prompts/<slug:prompt_slug>/"
_VERSION = _PROMPT + "versions/<int:number>/"

urlpatterns: list[URLPattern | URLResolver] = [
    path("<slug:slug>/ai/prompts/", views.prompt_list, name="list"),
    path("<slug:slug>/ai/prompts/new/", views.prompt_create, name="create"),
    path(_PROMPT, views.prompt_detail, name="detail"),
    path(_PROMPT + "delete/", views.prompt_delete, name="delete"),
    path(_PROMPT + "versions/new/", views.version_create, name="version-create"),
    path(_VERSION, views.version_detail, name="version"),
    path(_VERSION + "playground/", views.version_playground, name="version-playground"),
    path(_VERSION + "publish/", views.version_publish, name="version-publish"),
]
