"""Work a web process does once at start-up instead of in its first requests."""

import logging

from django.urls import get_resolver

logger = logging.getLogger("flowmatik.warmup")


def web_process_warm() -> None:
    """Import the URLconf; finalize the Celery app and build its producer pool.

    The first request of each process would otherwise import every app's URLs
    (also done by `flowmatik.heap` when the freeze is on), and the first task it
    sends (a webhook's processing, after the 200) would finalize the Celery app
    (every task class built, celery's canvas imported) and load the broker
    transport: a few hundred ms of CPU on a busy machine, while the requests
    behind it wait. No network I/O here (the pool connects on first use): a broker
    or database that is down does not hold start-up, and a failure is logged and
    left to the first request, as before. The apps' tasks modules are not
    imported here (+5 MB that a worker sending no task would keep); the first task
    sent imports its own, cheaply.
    """
    try:
        get_resolver().url_patterns  # noqa: B018 - imports the URLconf
        from flowmatik.celery import app

        app.finalize(auto=True)
        app.producer_pool  # noqa: B018 - builds the (lazy) connection pool
    except Exception:
        logger.warning("Web process warm-up failed", exc_info=True)
