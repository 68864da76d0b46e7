from django.urls import path

from encryption import views

app_name = "encryption"

urlpatterns = [
    path("", views.keys, name="keys"),
    path("rotation/", views.rotation_progress, name="rotation_progress"),
    path("rotate/", views.rotate, name="rotate"),
    path("destroy/", views.destroy, name="destroy"),
]
