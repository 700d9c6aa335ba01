"""/platform/quarantine/: staff pages (included without a namespace, like /platform/nodes/)."""

from django.urls import path

from gateways import quarantine_views

urlpatterns = [
    path("", quarantine_views.quarantine_list, name="platform-quarantine"),
    path("<int:pk>/", quarantine_views.quarantine_detail, name="platform-quarantine-detail"),
]
