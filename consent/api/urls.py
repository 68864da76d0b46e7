from django.urls import path

from consent.api import views

app_name = "consent_api"

urlpatterns: list = [
    path("contacts/<uuid:contact_id>/consent/", views.ContactConsentApi.as_view(), name="contact_consent"),
    path(
        "contacts/<uuid:contact_id>/consent/history/",
        views.ContactConsentHistoryApi.as_view(),
        name="contact_consent_history",
    ),
    path(
        "contacts/<uuid:contact_id>/authorisations/",
        views.ContactAuthorisationsApi.as_view(),
        name="contact_authorisations",
    ),
    path(
        "authorisations/<uuid:authorisation_id>/revoke/",
        views.AuthorisationRevokeApi.as_view(),
        name="authorisation_revoke",
    ),
    path("suppressions/", views.SuppressionListApi.as_view(), name="suppression_list"),
    path("suppressions/<uuid:suppression_id>/", views.SuppressionDetailApi.as_view(), name="suppression_detail"),
    path("consent/purposes/", views.PurposeListApi.as_view(), name="purpose_list"),
    path("consent/report/", views.ConsentReportApi.as_view(), name="report"),
]
