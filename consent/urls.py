from django.urls import path

from consent import optin_views, views

app_name = "consent"

urlpatterns: list = [
    # Staff pages: a contact's consent, purposes, authorisation texts, suppressions, the report.
    path("contacts/<uuid:contact_id>/", views.contact_consent_view, name="contact_consent"),
    path("contacts/<uuid:contact_id>/statuses/", views.contact_consent_set_view, name="contact_consent_set"),
    path(
        "contacts/<uuid:contact_id>/authorisations/new/",
        views.authorisation_record_view,
        name="authorisation_record",
    ),
    path("contacts/<uuid:contact_id>/unencrypted-email/", views.unencrypted_email_view, name="unencrypted_email"),
    path(
        "authorisations/<uuid:authorisation_id>/revoke/", views.authorisation_revoke_view, name="authorisation_revoke"
    ),
    path("purposes/", views.purpose_list_view, name="purpose_list"),
    path("purposes/new/", views.purpose_create_view, name="purpose_create"),
    path("purposes/<uuid:purpose_id>/archive/", views.purpose_archive_view, name="purpose_archive"),
    path("topics/new/", views.topic_create_view, name="topic_create"),
    path("authorisations/", views.authorisation_text_list_view, name="authorisation_text_list"),
    path("authorisations/publish/", views.authorisation_text_publish_view, name="authorisation_text_publish"),
    path("authorisations/texts/<uuid:text_id>/", views.authorisation_text_detail_view, name="authorisation_text"),
    path(
        "authorisations/texts/<uuid:text_id>/publish/",
        views.authorisation_text_revise_view,
        name="authorisation_text_revise",
    ),
    path("suppressions/", views.suppression_list_view, name="suppression_list"),
    path("suppressions/<uuid:suppression_id>/lift/", views.suppression_lift_view, name="suppression_lift"),
    path("report/", views.report_view, name="report"),
    path("report/export.csv", views.report_export_view, name="report_export"),
    # Hosted double opt-in forms (consent.optin_views).
    path("optin-forms/", optin_views.optin_form_list_view, name="optin_form_list"),
    path("optin-forms/new/", optin_views.optin_form_create_view, name="optin_form_create"),
    path("optin-forms/<uuid:form_id>/", optin_views.optin_form_detail_view, name="optin_form_detail"),
    path("optin-forms/<uuid:form_id>/edit/", optin_views.optin_form_edit_view, name="optin_form_edit"),
]
