"""The dialer interface, and the dialer a campaign uses.

The dialer is named in settings (``NEWVOICE_DIALER`` → ``NEWVOICE_DIALERS``) and loaded by import
path, so this app never imports the voice agent that implements the real ones
(``voiceagent.dialers``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from campaigns.leases import Lease
    from campaigns.models import Call


class Dialer(ABC):
    """Places calls. ``place`` runs in a background worker and must leave the call either ended
    (``campaigns.actions.finish_call``) or answered with an agent in charge of it."""

    name: str = ""
    simulated: bool = False

    def problems(self, campaign) -> list[str]:
        """What keeps this dialer from placing the campaign's calls (settings, keys); checked at start."""
        return []

    def prepare(self, campaign) -> None:
        """Load, on the calling (main) thread, what placing the campaign's calls needs before other
        threads of this process place them (``campaign run``). The default needs nothing."""
        return None

    @abstractmethod
    def place(self, call: Call, lease: Lease) -> None: ...

    def hang_up(self, call: Call) -> None:
        """Close whatever is still connected for a call the engine gave up on (the reaper ended it
        as lost). Best effort; the default has nothing to close."""
        return None


@cache
def _load(path: str) -> Dialer:
    return import_string(path)()


def get_dialer(name: str | None = None) -> Dialer:
    name = name or settings.NEWVOICE_DIALER
    try:
        return _load(settings.NEWVOICE_DIALERS[name])
    except KeyError:
        raise ValueError(f"Unknown dialer '{name}'. Configured: {', '.join(settings.NEWVOICE_DIALERS)}.") from None
