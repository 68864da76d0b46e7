from django.urls import path

from tenants import views

app_name = "tenants"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("organisation/switch/", views.switch_organisation, name="switch"),
    path("members/", views.member_list, name="member_list"),
    path("members/<uuid:membership_id>/", views.member_edit, name="member_edit"),
    path("roles/", views.roles, name="roles"),
]
