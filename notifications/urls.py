from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("<slug:slug>/notifications/", views.notification_list, name="list"),
    path("<slug:slug>/notifications/read/", views.notification_read, name="read"),
    path("<slug:slug>/webhooks/", views.webhooks, name="webhooks"),
    path("<slug:slug>/webhooks/<int:pk>/", views.webhook_detail, name="webhook"),
    path("<slug:slug>/webhooks/<int:pk>/test/", views.webhook_test, name="webhook-test"),
    path("<slug:slug>/webhooks/<int:pk>/toggle/", views.webhook_toggle, name="webhook-toggle"),
    path("<slug:slug>/webhooks/<int:pk>/delete/", views.webhook_delete, name="webhook-delete"),
]
