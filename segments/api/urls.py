from django.urls import path

from segments.api import views

app_name = "segments_api"

urlpatterns = [
    path("contacts/", views.ContactListApi.as_view(), name="contact_list"),
    path("contacts/<uuid:contact_id>/", views.ContactDetailApi.as_view(), name="contact_detail"),
]
