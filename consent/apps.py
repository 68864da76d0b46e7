from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = "Consent"

    def ready(self) -> None:
        from tenants.db.privileges import APPEND_ONLY_TABLES, REENCRYPTABLE_COLUMNS

        # Consent history is evidence: the application may add to it, never change or remove it;
        # only key rotation may rewrite its two ciphertexts (same plaintext, new key).
        APPEND_ONLY_TABLES.add("consent_consentevent")
        REENCRYPTABLE_COLUMNS["consent_consentevent"] = {"ip_address", "user_agent"}
