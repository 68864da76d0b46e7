from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from audit import signals  # noqa: F401 - connects the sign-in receivers
        from tenants.db.privileges import APPEND_ONLY_TABLES

        APPEND_ONLY_TABLES.update({"audit_auditevent", "audit_auditcheckpoint"})
