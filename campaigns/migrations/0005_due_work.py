# Due work (campaigns.scheduling_models): the database-backed scheduler's table, its partial
# indexes (pending rows by due time; claimed rows by claim time) and the "one pending row per
# (tenant, kind, subject)" constraint, under row-level security.

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import tenants.rls


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0004_message_phi_report_index"),
        ("tenants", "0002_alter_membership_managers"),
    ]

    operations = [
        migrations.CreateModel(
            name="DueWork",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("kind", models.CharField(max_length=64)),
                ("subject_id", models.CharField(max_length=64)),
                ("due_at", models.DateTimeField()),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("claimed", "Claimed by a worker"),
                            ("done", "Done"),
                            ("cancelled", "Cancelled"),
                            ("failed", "Failed"),
                        ],
                        default="pending",
                        max_length=16,
                    ),
                ),
                ("claim_token", models.UUIDField(blank=True, null=True)),
                ("claimed_at", models.DateTimeField(blank=True, null=True)),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("done_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "tenant",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="tenants.organisation",
                    ),
                ),
            ],
            options={
                "abstract": False,
                "indexes": [
                    models.Index(
                        condition=models.Q(("status", "pending")),
                        fields=["tenant", "due_at"],
                        name="campaigns_duework_due",
                    ),
                    models.Index(
                        condition=models.Q(("status", "claimed")),
                        fields=["tenant", "claimed_at"],
                        name="campaigns_duework_lease",
                    ),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("status", "pending")),
                        fields=("tenant", "kind", "subject_id"),
                        name="campaigns_duework_one_pending",
                    )
                ],
            },
        ),
        tenants.rls.EnableRowLevelSecurity(model_name="duework"),
    ]
