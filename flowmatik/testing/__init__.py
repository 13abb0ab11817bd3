"""Test support for every app: live servers, credentials, fake providers, fixtures.

`flowmatik.testing.plugin` is the pytest plugin (registered by the root conftest);
the other modules are plain helpers tests import.
"""
