"""How a call is placed: the dialer interface, and the background task that runs a dialer.

The dialer is named in settings (``NEWVOICE_DIALER`` → ``NEWVOICE_DIALERS``) and loaded by import
path, so this app never imports the voice agent that implements the real ones.
"""

from __future__ import annotations

import logging
import os
import socket
from abc import ABC, abstractmethod
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from campaigns.models import Call

logger = logging.getLogger(__name__)
LEASE_SECONDS = 60


class Dialer(ABC):
    """Places calls. ``place`` runs in a background worker and must leave the call either ended
    (``campaigns.actions.finish_call``) or answered with an agent in charge of it."""

    name: str = ""
    simulated: bool = False

    def problems(self, campaign) -> list[str]:
        """What keeps this dialer from placing the campaign's calls (settings, keys); checked at start."""
        return []

    @abstractmethod
    def place(self, call: Call, lease: Lease) -> None: ...

    def hang_up(self, call: Call) -> None:
        """Close whatever is still connected for a call the engine gave up on (the reaper ended it
        as lost). Best effort; the default has nothing to close."""
        return None


class Lease:
    """A worker's hold on a live call. Renew it while the call runs; the reaper ends calls whose
    lease ran out (their worker died) as ``lost`` and schedules the contact again."""

    def __init__(self, call_id: int, owner: str, seconds: int = LEASE_SECONDS):
        self.call_id, self.owner, self.seconds = call_id, owner, seconds

    def renew(self) -> bool:
        """False when the call is no longer this worker's (ended, or taken over after expiry)."""
        return Call.objects.renew_lease(self.call_id, self.owner, self.seconds)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@cache
def _load(path: str) -> Dialer:
    return import_string(path)()


def get_dialer(name: str | None = None) -> Dialer:
    name = name or settings.NEWVOICE_DIALER
    try:
        return _load(settings.NEWVOICE_DIALERS[name])
    except KeyError:
        raise ValueError(f"Unknown dialer '{name}'. Configured: {', '.join(settings.NEWVOICE_DIALERS)}.") from None
