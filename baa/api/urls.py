from django.urls import path

from baa.api import views

app_name = "baa_api"

urlpatterns = [
    path("baa/", views.BaaStatusApi.as_view(), name="status"),
    path("baa/gate/", views.BaaGateApi.as_view(), name="gate"),
    path("baa/subprocessors/", views.SubProcessorListApi.as_view(), name="subprocessor_list"),
]
