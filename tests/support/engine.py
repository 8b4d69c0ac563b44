"""For the campaign-engine tests: campaigns and contacts written through the real models, a fixed
clock, and a scripted telephone line.

``ScriptedDialer`` is a dialer like the simulator, configured through ``settings.NEWVOICE_DIALERS``
(the way an email backend is): each contact's ``line`` variable says how its phone behaves.
"""

from __future__ import annotations

import datetime as dt

from campaigns.actions import finish_call
from campaigns.dialers import Dialer
from campaigns.dispatch import TickReport, tick
from campaigns.leases import Lease
from campaigns.models import Call, CallTask, Campaign

# A Monday, ahead of the real clock so that contacts imported "now" are due: 10:00 in Moscow, 17:00 in Vladivostok.
T0 = dt.datetime(2030, 6, 3, 7, 0, tzinfo=dt.UTC)
ALL_DAY = {"calling_days": [1, 2, 3, 4, 5, 6, 7], "calling_window_start": dt.time(0), "calling_window_end": dt.time.max}

PLACED: list[int] = []  # ids of the calls the scripted line was asked to place, in order


class ScriptedDialer(Dialer):
    """How the phone behaves comes from the contact's ``line`` variable:

    an outcome (``success``, ``busy``, ...): the call ends with it at once;
    ``answer``: picked up, then the test ends the call with ``finish_call``;
    ``raise``: the line fails inside ``place``;
    ``vanish``: picked up, then the worker dies (nobody renews the lease or ends the call).
    """

    name = "scripted"

    def place(self, call: Call, lease: Lease) -> None:
        PLACED.append(call.pk)
        line = call.task.variables.get("line", "success")
        if line == "raise":
            raise ConnectionError("the SIP trunk hung up")
        if line in ("answer", "vanish"):
            Call.objects.mark_answered(call.pk)
            return
        finish_call(call.pk, outcome=line)


class Dispatcher:
    """Runs ``tick`` on the test's clock as the dialer loop runs it, and returns the ids of the calls
    it enqueued (``enqueue`` runs when the claim commits, so the capture runs the commit callbacks)."""

    def __init__(self, capture_on_commit_callbacks) -> None:
        self.capture = capture_on_commit_callbacks
        self.report: TickReport | None = None

    def __call__(self, now: dt.datetime) -> list[int]:
        ids: list[int] = []
        with self.capture(execute=True):
            self.report = tick(now, enqueue=ids.append)
        return ids


def use_scripted_dialer(settings) -> None:
    settings.NEWVOICE_DIALERS = {**settings.NEWVOICE_DIALERS, "scripted": "tests.support.engine.ScriptedDialer"}
    PLACED.clear()


def make_campaign(organization, skillbase, *, contacts: int = 0, variables: dict | None = None, **fields) -> Campaign:
    """A draft campaign (on the scripted line, open all day, every day) with ``contacts`` to call."""
    values = {"name": "Spring", "dialer": "scripted", "calls_per_minute": 600, "max_concurrent_calls": 50, **ALL_DAY, **fields}
    campaign = Campaign(organization=organization, skillbase=skillbase, **values)
    campaign.full_clean()
    campaign.save()
    add_contacts(campaign, contacts, variables=variables)
    return campaign


def add_contacts(campaign: Campaign, count: int, *, first: int = 0, variables: dict | None = None, **fields) -> list[CallTask]:
    tasks = [
        CallTask(
            organization_id=campaign.organization_id,
            campaign=campaign,
            phone=f"+7916{first + number:07d}",
            name=f"Contact {first + number}",
            variables=dict(variables or {}),
            **fields,
        )
        for number in range(count)
    ]
    return CallTask.objects.bulk_create(tasks)


def started(campaign: Campaign) -> Campaign:
    problems = campaign.start()
    assert problems == [], problems
    return campaign


def live_calls(**filters) -> int:
    return Call.objects.live().filter(**filters).count()
