"""A worker's hold on a live call: renewed while the call runs; the reaper ends calls whose lease
ran out (their worker died) as ``lost`` and schedules the contact again."""

from __future__ import annotations

import os
import socket

from django.conf import settings

from campaigns.models import Call


def lease_seconds() -> int:
    """How long a worker holds a live call without renewing it (NEWVOICE_CALL_LEASE_SECONDS): the
    holder renews every third of it, and a call whose holder is silent this long is lost."""
    return settings.NEWVOICE_CALL_LEASE_SECONDS


class Lease:
    def __init__(self, call_id: int, owner: str, seconds: int | None = None):
        self.call_id, self.owner, self.seconds = call_id, owner, seconds or lease_seconds()

    def renew(self) -> bool:
        """False when the call is no longer this worker's (ended, or taken over after expiry)."""
        return Call.objects.renew_lease(self.call_id, self.owner, self.seconds)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
