from django.urls import path

from encryption import policy_views, quarantine_views, views

app_name = "encryption"

urlpatterns = [
    path("", views.keys, name="keys"),
    path("rotation/", views.rotation_progress, name="rotation_progress"),
    path("rotate/", views.rotate, name="rotate"),
    path("destroy/", views.destroy, name="destroy"),
    path("protection/", policy_views.protection_policy_view, name="protection_policy"),
    path("protection/edit/", policy_views.protection_policy_edit_view, name="protection_policy_edit"),
    path("protection/simulator/", policy_views.protection_simulator_view, name="protection_simulator"),
    path("quarantine/", quarantine_views.quarantine_list_view, name="quarantine_list"),
    path("quarantine/<uuid:item_id>/", quarantine_views.quarantine_detail_view, name="quarantine_detail"),
    path("quarantine/<uuid:item_id>/release/", quarantine_views.quarantine_release_view, name="quarantine_release"),
    path("quarantine/<uuid:item_id>/reject/", quarantine_views.quarantine_reject_view, name="quarantine_reject"),
]
