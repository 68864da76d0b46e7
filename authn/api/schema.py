"""Describes API-token authentication in the OpenAPI schema."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "authn.api.authentication.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "The token of an API application an admin registered on the API applications page: bound to "
                "one organisation, it may call only the endpoints whose scope the admin approved (403 "
                "insufficient_scope otherwise)."
            ),
        }
