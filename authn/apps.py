from django.apps import AppConfig


class AuthnConfig(AppConfig):
    name = "authn"
    verbose_name = "Sign-in and API access"

    def ready(self) -> None:
        # Registers the OpenAPI description of API-token authentication.
        from authn.api import schema  # noqa: F401
