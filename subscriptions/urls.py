from django.urls import path

from subscriptions import views

app_name = "subscriptions"

urlpatterns = [
    path("<slug:slug>/apps/", views.applications, name="applications"),
    path("<slug:slug>/apps/subscribe/", views.subscribe, name="subscribe"),
    path("<slug:slug>/apps/<int:pk>/", views.application_detail, name="application"),
    path("<slug:slug>/apps/<int:pk>/edit/", views.application_edit, name="application-edit"),
    path("<slug:slug>/apps/<int:pk>/keys/", views.key_create, name="key-create"),
    path("<slug:slug>/apps/<int:pk>/keys/<int:key_pk>/", views.key_detail, name="key-detail"),
    path("<slug:slug>/apps/<int:pk>/keys/<int:key_pk>/rotate/", views.key_rotate, name="key-rotate"),
    path("<slug:slug>/apps/<int:pk>/keys/<int:key_pk>/revoke/", views.key_revoke, name="key-revoke"),
    path("<slug:slug>/subscriptions/<int:pk>/", views.subscription_detail, name="subscription"),
    path("<slug:slug>/subscriptions/<int:pk>/events.csv", views.subscription_events_csv, name="subscription-csv"),
    path("<slug:slug>/subscriptions/<int:pk>/<str:verb>/", views.subscription_action, name="subscription-action"),
    path("<slug:slug>/approvals/", views.approvals, name="approvals"),
]
