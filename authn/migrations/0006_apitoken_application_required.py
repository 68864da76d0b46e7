# Separate from 0005 so the table is altered in a transaction of its own, after the data moved
# (PostgreSQL refuses ALTER TABLE with the deferred foreign-key checks of 0005 still pending).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("authn", "0005_api_applications"),
    ]

    operations = [
        migrations.AlterField(
            model_name="apitoken",
            name="application",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="tokens", to="authn.apiapplication"
            ),
        ),
        migrations.RemoveField(model_name="apitoken", name="role"),
        # blank=True first, so that unapplying re-adds the column with "" in it (0005's reverse
        # then copies the application's name back).
        migrations.AlterField(model_name="apitoken", name="name", field=models.CharField(max_length=100, blank=True)),
        migrations.RemoveField(model_name="apitoken", name="name"),
    ]
