# The PHI exposure report's index (reporting.compliance): a tenant's PHI-bearing messages by the
# time of their last move (and id, the pages' and the export's tie-break), covering what the
# report's summary groups by. Partial, so messages without PHI (most of them) never pay for it.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0003_message_domain_tls_campaign_tracking"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("level", "phi")),
                fields=["tenant", "updated_at", "id"],
                include=("status", "protection_action", "tls_version"),
                name="campaigns_message_phi_time",
            ),
        ),
    ]
