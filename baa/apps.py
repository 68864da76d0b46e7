from django.apps import AppConfig


class BaaConfig(AppConfig):
    name = "baa"
    verbose_name = "Business associate agreements"

    def ready(self) -> None:
        from tenants.db.privileges import READ_ONLY_TABLES

        # Published BAA versions are legal text: data migrations (the schema owner) publish
        # them, the application only reads them.
        READ_ONLY_TABLES.add("baa_baadocumentversion")
