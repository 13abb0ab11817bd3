"""Production settings: no default secrets, HTTPS only, strict headers."""

from django.core.exceptions import ImproperlyConfigured

from flowmatik.settings.base import *  # noqa: F403
from flowmatik.settings.base import env

ENVIRONMENT = env.str("ENVIRONMENT", default="production")
DEBUG = False

for _name in ("SECRET_KEY", "JWT_SECRET"):
    if not env.str(_name, default=""):
        raise ImproperlyConfigured(f"{_name} must be set in production")
SECRET_KEY = env.str("SECRET_KEY")
JWT_SECRET = env.str("JWT_SECRET")
SIMPLE_JWT["SIGNING_KEY"] = JWT_SECRET  # noqa: F405

# Loopback always answers too: the container's health check (and an operator's curl
# on the box) asks http://127.0.0.1:$PORT/health whatever the public host names are.
LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
ALLOWED_HOSTS = [*env.list("ALLOWED_HOSTS"), *LOOPBACK_HOSTS]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^health$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
LEMONSQUEEZY_TEST_MODE = env.bool("LEMONSQUEEZY_TEST_MODE", default=False)
# Static files: collected (hashed, compressed) into STATIC_ROOT and served from there
# by servestatic; hashed names are immutable, other names cached this long
SERVESTATIC_USE_FINDERS = env.bool("SERVESTATIC_USE_FINDERS", default=False)
SERVESTATIC_AUTOREFRESH = SERVESTATIC_USE_FINDERS
SERVESTATIC_MAX_AGE = env.int("STATIC_MAX_AGE_SECONDS", default=3600)
STORAGES = {
    "default": STORAGES["default"],  # noqa: F405  (local files, or S3 when configured)
    "staticfiles": {
        "BACKEND": "servestatic.storage.CompressedManifestStaticFilesStorage"
    },
}
