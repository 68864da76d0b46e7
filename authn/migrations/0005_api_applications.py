# API tokens stop acting with a role: each belongs to an API application acting with the scopes
# an admin approved. Every existing token becomes an application of its own, with its name and
# the read scopes its role allowed, so no integration loses access it had.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import sealpost.ids
import tenants.rls

# Frozen copy of what each role could read through the API before scopes (contacts.view and
# audit.view in tenants.permissions), as scope codes. Not imported: migrations must not change
# when the live code does.
ROLE_READ_SCOPES = {
    "admin": ["contacts:read", "audit:read"],
    "marketer": ["contacts:read"],
    "compliance_officer": ["contacts:read", "audit:read"],
}
TENANT_GUC = "sealpost.tenant_id"


def _as_tenant(schema_editor, tenant_id):
    """Row-level security is forced even for the table owner: act as each tenant in turn."""
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, %s, true)", [TENANT_GUC, "" if tenant_id is None else str(tenant_id)])


def tokens_to_applications(apps, schema_editor):
    Organisation = apps.get_model("tenants", "Organisation")
    ApiToken = apps.get_model("authn", "ApiToken")
    ApiApplication = apps.get_model("authn", "ApiApplication")
    for tenant_id in Organisation.objects.values_list("pk", flat=True):
        _as_tenant(schema_editor, tenant_id)
        for token in ApiToken.objects.filter(tenant_id=tenant_id, application__isnull=True):
            application = ApiApplication.objects.create(
                tenant_id=tenant_id,
                name=token.name,
                description="",
                scopes=ROLE_READ_SCOPES.get(token.role, []),
                created_by_id=token.created_by_id,
                created_at=token.created_at,
                revoked_at=token.revoked_at,
            )
            token.application = application
            token.save(update_fields=["application"])
    _as_tenant(schema_editor, None)


def applications_to_tokens(apps, schema_editor):
    Organisation = apps.get_model("tenants", "Organisation")
    ApiToken = apps.get_model("authn", "ApiToken")
    for tenant_id in Organisation.objects.values_list("pk", flat=True):
        _as_tenant(schema_editor, tenant_id)
        for token in ApiToken.objects.filter(tenant_id=tenant_id).select_related("application"):
            # The narrowest role that could read what the application was approved for.
            scopes = set(token.application.scopes)
            token.role = "compliance_officer" if "audit:read" in scopes else "marketer"
            token.name = token.application.name
            token.save(update_fields=["role", "name"])
    _as_tenant(schema_editor, None)


class Migration(migrations.Migration):
    dependencies = [
        ("authn", "0004_identity"),
        ("tenants", "0002_alter_membership_managers"),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiApplication",
            fields=[
                ("id", models.UUIDField(default=sealpost.ids.uuid7, editable=False, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=100)),
                ("description", models.TextField(blank=True, max_length=500)),
                ("scopes", models.JSONField(blank=True, default=list)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("revoked_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
                (
                    "tenant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="tenants.organisation"
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        # No principal-read policy: the presented token is read by its hash first, and its
        # application only afterwards, as the token's tenant (tenants.resolution.resolve_api_token).
        tenants.rls.EnableRowLevelSecurity(model_name="apiapplication"),
        migrations.AddField(
            model_name="apitoken",
            name="application",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="tokens",
                to="authn.apiapplication",
            ),
        ),
        migrations.RunPython(tokens_to_applications, applications_to_tokens),
    ]
