from django.urls import path

from segments import views

app_name = "segments"

urlpatterns = [
    path("", views.contact_list_view, name="contact_list"),
    path("<uuid:contact_id>/", views.contact_detail_view, name="contact_detail"),
]
