from django.apps import AppConfig


class AuthnConfig(AppConfig):
    name = "authn"
    verbose_name = "Sign-in and API access"

    def ready(self) -> None:
        # Registers the OpenAPI description of API-token authentication.
        from authn import (
            sessions,  # noqa: F401 - starts the session clocks at sign-in
            sessions_admin,  # noqa: F401 - disabling a user ends their sessions
        )
        from authn.api import schema  # noqa: F401
