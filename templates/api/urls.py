from django.urls import path

from templates.api import views

app_name = "templates_api"

urlpatterns: list = [
    path("templates/", views.TemplateListApi.as_view(), name="template_list"),
    path("templates/versions/<uuid:version_id>/", views.VersionDetailApi.as_view(), name="version_detail"),
    path("templates/versions/<uuid:version_id>/submit/", views.VersionSubmitApi.as_view(), name="version_submit"),
    path("templates/versions/<uuid:version_id>/render/", views.VersionRenderApi.as_view(), name="version_render"),
    path("templates/<uuid:template_id>/", views.TemplateDetailApi.as_view(), name="template_detail"),
    path("templates/<uuid:template_id>/versions/", views.TemplateVersionListApi.as_view(), name="template_versions"),
    path("templates/<uuid:template_id>/draft/", views.TemplateDraftApi.as_view(), name="template_draft"),
]
