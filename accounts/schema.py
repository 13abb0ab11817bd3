"""OpenAPI security schemes for the accounts authentication classes."""

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class JwtScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.JwtAuthentication"


class PortalSessionScheme(SessionScheme):
    target_class = "accounts.authentication.BoundSessionAuthentication"


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = ["apiKeyAuth", "apiKeyBearer"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            {
                "type": "http",
                "scheme": "bearer",
                "description": "A personal API key `fmk_...` as a Bearer token.",
            },
        ]
