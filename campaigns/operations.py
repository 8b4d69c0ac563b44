"""What an operator needs at the top of a running campaign: where it stands, what it has done, what
comes next and what it costs — a few grouped queries, whatever the campaign's size."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import Call, CallLog, CallTask, Campaign, Outcome
from skillbases.outcomes import OUTCOME_COLORS

UPCOMING, LATEST = 8, 10
DONE = (CallTask.Status.COMPLETED, CallTask.Status.FAILED, CallTask.Status.CANCELLED)


@dataclass
class Operations:
    tasks: dict[str, int]
    total: int
    done: int
    outcomes: list[dict[str, Any]]  # label, count, colour: the contacts' outcomes so far
    live: int
    upcoming: list[dict[str, Any]]  # the next retries and callbacks, at the contact's own clock
    latest: list[Call]
    spent: Decimal
    budget_cap: Decimal | None

    @property
    def percent_done(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0

    @property
    def percent_spent(self) -> int | None:
        return min(round(100 * self.spent / self.budget_cap), 100) if self.budget_cap else None


def _zone(name: str, fallback: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or fallback)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def operations(campaign: Campaign) -> Operations:
    tasks = dict.fromkeys(CallTask.Status.values, 0)
    outcomes: dict[str, int] = {}
    for row in CallTask.objects.filter(campaign=campaign).order_by().values("status", "outcome").annotate(n=Count("pk")):
        tasks[row["status"]] += row["n"]
        if row["outcome"]:
            outcomes[row["outcome"]] = outcomes.get(row["outcome"], 0) + row["n"]
    labels = dict(Outcome.choices)
    pending = CallTask.objects.filter(campaign=campaign, status=CallTask.Status.PENDING, attempts__gt=0).order_by("next_attempt_at", "pk")
    upcoming = []
    for task in pending.only("pk", "name", "phone", "timezones", "outcome", "attempts", "next_attempt_at")[:UPCOMING]:
        zone = _zone(task.timezones[0] if task.timezones else "", campaign.default_timezone)
        upcoming.append({
            "task": task,
            "callback": task.outcome == Outcome.CALLBACK_REQUESTED,
            "at": timezone.localtime(task.next_attempt_at, zone) if task.next_attempt_at else None,
            "zone": zone.key,
        })  # fmt: skip
    latest = list(Call.objects.filter(campaign=campaign).select_related("task").order_by("-created_at", "-pk")[:LATEST])
    return Operations(
        tasks=tasks,
        total=sum(tasks.values()),
        done=sum(tasks[status] for status in DONE),
        outcomes=[
            {"value": value, "label": labels.get(value, value), "count": n, "color": OUTCOME_COLORS.get(value, "#757575")}
            for value, n in sorted(outcomes.items(), key=lambda item: -item[1])
        ],  # fmt: skip
        live=Call.objects.filter(campaign=campaign).live().count(),
        upcoming=upcoming,
        latest=latest,
        spent=campaign.spent,
        budget_cap=campaign.budget_cap,
    )


def monitor_labels() -> dict:
    """What the live monitor's script shows (its page, a campaign's page), in the user's language."""
    return {
        "outcome": {value: str(label) for value, label in Outcome.choices},
        "status": {value: str(label) for value, label in [*Call.Status.choices, *Campaign.Status.choices]},
        "role": {value: str(label) for value, label in CallLog.Role.choices},
        "kind": {value: str(label) for value, label in CallLog.Kind.choices},
        "live": _("Live"),
        "connecting": _("Connecting…"),
        "reconnecting": _("Connection lost, reconnecting…"),
        "refused": {
            "4401": _("Your session has ended: log in again to keep watching."),
            "4404": _("This campaign is not one of yours, or it no longer exists."),
        },
        "no_calls": _("No live calls."),
        "step": _("Step"),
    }
