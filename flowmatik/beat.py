"""Celery beat's scheduler: creates its schedule file's folder and writes a heartbeat.

Beat runs alone (`celery beat`) or inside the worker (`celery worker -B`), on every
configuration; either way it uses this scheduler (`beat_scheduler` in
flowmatik/celery.py). The heartbeat goes to the shared cache, so `/health` and the
staff health endpoint in any process can tell a running beat from a dead one
(`flowmatik.health.beat_last_heartbeat`).
"""

import logging
import time
from pathlib import Path

from celery.beat import PersistentScheduler
from django.conf import settings

logger = logging.getLogger("flowmatik.beat")


class HeartbeatScheduler(PersistentScheduler):
    """The default persistent scheduler, plus a heartbeat at least every
    `BEAT_HEARTBEAT_SECONDS` (it also wakes up that often to write it)."""

    _next_heartbeat = 0.0

    def setup_schedule(self):
        # The folder of the schedule file exists on every configuration, not only
        # where the embedded broker happens to create it.
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()

    def tick(self, *args, **kwargs):
        interval = float(settings.BEAT_HEARTBEAT_SECONDS)
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self._heartbeat()
            self._next_heartbeat = now + interval
        return min(super().tick(*args, **kwargs), interval)

    def _heartbeat(self) -> None:
        from flowmatik.health import beat_heartbeat_record

        try:
            beat_heartbeat_record()
        except Exception:  # a cache outage must not stop the schedule
            logger.warning("Beat heartbeat not recorded", exc_info=True)
