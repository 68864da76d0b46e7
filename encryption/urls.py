from django.urls import path

from encryption import escrow_views, policy_views, quarantine_views, views

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
    path("escrow/", escrow_views.escrow_list_view, name="escrow_list"),
    path("escrow/<uuid:escrow_id>/retract/", escrow_views.escrow_retract_view, name="escrow_retract"),
    path("escrow/replies/", escrow_views.reply_list_view, name="escrow_replies"),
    path("escrow/replies/<uuid:reply_id>/", escrow_views.reply_detail_view, name="escrow_reply"),
    path("escrow/settings/", escrow_views.escrow_settings_view, name="escrow_settings"),
]
