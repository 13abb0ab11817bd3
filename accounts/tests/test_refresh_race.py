"""Two concurrent refreshes of one token: exactly one succeeds.

Runs on the file-based SQLite test database (real locking, IMMEDIATE transactions)
and on MariaDB in CI (row locks on the blacklist's unique key).
"""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from accounts.tests.conftest import jwt_login
from accounts.tests.factories import UserFactory

THREADS = 4


@pytest.mark.django_db(transaction=True)
def test_concurrent_refresh_of_one_token_gives_exactly_one_success():
    if connection.vendor == "sqlite" and "memory" in str(
        connection.settings_dict["NAME"]
    ):
        pytest.skip("in-memory SQLite has no cross-thread locking")
    user = UserFactory()
    refresh = jwt_login(APIClient(), user.email)["refresh"]
    barrier = threading.Barrier(THREADS)
    statuses: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        from django.db import connections

        try:
            client = APIClient()
            barrier.wait()
            response = client.post(
                "/api/auth/refresh", {"refresh": refresh}, format="json"
            )
            with lock:
                statuses.append(response.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200] + [401] * (THREADS - 1)
    assert BlacklistedToken.objects.filter(token__user=user).count() == 1


@pytest.mark.django_db
def test_sequential_reuse_of_a_rotated_token_is_refused(api_client):
    user = UserFactory()
    refresh = jwt_login(api_client, user.email)["refresh"]
    statuses = [
        api_client.post(
            "/api/auth/refresh", {"refresh": refresh}, format="json"
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 401, 401]
