"""/platform/nodes/: staff pages (included without a namespace, like /platform/approvals/)."""

from django.urls import path

from gateways import views

urlpatterns = [
    path("", views.nodes, name="platform-nodes"),
    path("<int:pk>/rotate/", views.node_rotate, name="platform-node-rotate"),
    path("<int:pk>/revoke/", views.node_revoke, name="platform-node-revoke"),
]
