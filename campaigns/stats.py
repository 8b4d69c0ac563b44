"""Campaign figures for the API: tasks and calls by status and outcome, answer rate, spend against
budget. Counted by the database (three grouped queries, however many campaigns and calls)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum

from campaigns.models import UNREACHED_OUTCOMES, Call, CallTask, Campaign, Outcome

# Picked up (by a person or a voicemail box): the dialer saw the answer, or the outcome says someone
# was reached. The same rule as analytics.reports.ANSWERED, read from the call rather than its metrics.
ANSWERED = Q(answered_at__isnull=False) | ~Q(outcome__in=[str(o) for o in UNREACHED_OUTCOMES])


def _zeros(choices) -> dict[str, int]:
    return {value: 0 for value in choices.values}


def campaign_stats(campaigns: QuerySet[Campaign]) -> dict:
    """Figures across ``campaigns`` (already scoped to what the user may see)."""
    ids = campaigns.values("pk")
    return {
        **_campaigns_and_budget(campaigns),
        "tasks": _tasks(CallTask.objects.filter(campaign__in=ids)),
        "calls": _calls(Call.objects.filter(campaign__in=ids)),
        "currency": settings.NEWVOICE_CURRENCY,
    }


def _campaigns_and_budget(campaigns: QuerySet[Campaign]) -> dict:
    by_status, spent, cap, uncapped = _zeros(Campaign.Status), Decimal(0), Decimal(0), 0
    rows = (
        campaigns.order_by()
        .values("status")
        .annotate(n=Count("pk"), spent=Sum("spent"), cap=Sum("budget_cap"), uncapped=Count("pk", filter=Q(budget_cap__isnull=True)))
    )
    for row in rows:
        by_status[row["status"]] = row["n"]
        spent += row["spent"] or 0
        cap += row["cap"] or 0
        uncapped += row["uncapped"]
    total = sum(by_status.values())
    # Campaigns without a cap have no limit, so neither has a set of campaigns that includes one.
    budget_cap = cap if total and not uncapped else None
    return {
        "campaigns": {"total": total, "by_status": by_status},
        "budget": {
            "spent": spent,
            "cap": budget_cap,
            "remaining": max(budget_cap - spent, Decimal(0)) if budget_cap is not None else None,
            "share_spent": float(spent / budget_cap) if budget_cap else None,
        },
    }


def _tasks(tasks: QuerySet[CallTask]) -> dict:
    by_status, by_outcome = _zeros(CallTask.Status), _zeros(Outcome)
    for row in tasks.order_by().values("status", "outcome").annotate(n=Count("pk")):
        by_status[row["status"]] += row["n"]
        if row["outcome"]:
            by_outcome[row["outcome"]] += row["n"]
    return {"total": sum(by_status.values()), "by_status": by_status, "by_outcome": by_outcome}


def _calls(calls: QuerySet[Call]) -> dict:
    by_status, by_outcome, answered = _zeros(Call.Status), _zeros(Outcome), 0
    rows = calls.order_by().values("status", "outcome").annotate(n=Count("pk"), answered=Count("pk", filter=ANSWERED))
    for row in rows:
        by_status[row["status"]] += row["n"]
        if row["outcome"]:
            by_outcome[row["outcome"]] += row["n"]
        if row["status"] == Call.Status.ENDED:
            answered += row["answered"]
    ended = by_status[Call.Status.ENDED]
    return {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "by_outcome": by_outcome,
        "answered": answered,
        "answer_rate": answered / ended if ended else None,
    }
