"""Pages of console: the JSON endpoints the try-it console's script calls (docs/console.md)."""

from django.urls import path

from console import views

app_name = "console"

_APP = "t/<slug:slug>/console/applications/<int:pk>/"

urlpatterns = [
    path(_APP + "open/", views.session_open, name="open"),
    path(_APP + "close/", views.session_close, name="close"),
    path(_APP + "send/", views.send, name="send"),
    path(
        "t/<slug:slug>/console/apis/<slug:api_slug>/versions/<str:label>/send/",
        views.provider_send,
        name="provider-send",
    ),
]
