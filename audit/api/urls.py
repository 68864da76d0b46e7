from django.urls import path

from audit.api import views

app_name = "audit_api"

urlpatterns = [
    path("audit/events/", views.AuditEventListApi.as_view(), name="event_list"),
    path("audit/events/<int:event_id>/", views.AuditEventDetailApi.as_view(), name="event_detail"),
    path("audit/verification/", views.AuditVerificationApi.as_view(), name="verification"),
]
