"""A campaign's live counters: its status, live calls, ended calls by outcome and contacts by status.

Read at most once per ``CACHE_SECONDS`` in a process however many watchers ask. A call's end and its
``call_ended`` event commit together, so counts read after the event arrived include that end.
"""

from __future__ import annotations

import time

from django.db.models import Count

from campaigns.models import Call, CallTask, Campaign

EVERY_SECONDS = 2.0  # counters are re-read at least this often (sooner after a call starts or ends)
CACHE_SECONDS = 1.0  # …and at most once per this long per process, however many watchers ask

_cache: dict[int, tuple[float, dict]] = {}  # campaign id → (monotonic time the read started, counts)


def cached_counts(campaign_id: int, *, read_after: float = 0.0) -> dict | None:
    """The campaign's counts if read less than ``CACHE_SECONDS`` ago in this process, by a read
    that started after ``read_after`` (a monotonic time)."""
    cached = _cache.get(campaign_id)
    if cached is None or cached[0] <= read_after or time.monotonic() - cached[0] >= CACHE_SECONDS:
        return None
    return cached[1]


def campaign_counts(campaign_id: int, *, read_after: float = 0.0) -> dict:
    counts = cached_counts(campaign_id, read_after=read_after)
    if counts is not None:
        return counts
    started = time.monotonic()
    calls = Call.objects.filter(campaign_id=campaign_id).order_by()
    counts = {
        "status": Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first() or "",
        "live": calls.live().count(),
        "ended": dict(calls.ended().values_list("outcome").annotate(n=Count("pk"))),
        "tasks": dict(CallTask.objects.filter(campaign_id=campaign_id).order_by().values_list("status").annotate(n=Count("pk"))),
    }
    if len(_cache) > 1000:
        _cache.clear()
    _cache[campaign_id] = (started, counts)
    return counts


def counters(counts: dict) -> dict:
    """What a campaign's watcher is sent of its ``campaign_counts``."""
    tasks = counts["tasks"]
    done = sum(n for status, n in tasks.items() if status not in (CallTask.Status.PENDING, CallTask.Status.IN_PROGRESS))
    return {
        "campaign_status": counts["status"],
        "calls_live": counts["live"],
        "calls_ended": sum(counts["ended"].values()),
        "ended": counts["ended"],
        "tasks": {
            "pending": tasks.get(CallTask.Status.PENDING, 0),
            "in_progress": tasks.get(CallTask.Status.IN_PROGRESS, 0),
            "done": done,
        },
    }
