"""Daily figures: every measured call is added to its day's row (and its steps to theirs), in the
same transaction as its metrics, so that a report over a million calls reads thousands of rows.

Counts, sums and money add up exactly. Latency percentiles come from histograms with buckets 2%
wide (a percentile is off by at most 1%). Days are counted in ``NEWVOICE_REPORT_TIMEZONE``;
``rebuild`` recomputes everything from the calls' metrics (after changing that zone, or to backfill).
"""

from __future__ import annotations

import math
import zoneinfo
from collections import defaultdict
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from analytics.models import CallMetrics, DailyCallStats, DailyStepStats, StepReached
from campaigns.models import UNREACHED_OUTCOMES

RATIO = 1.02
_LOG_RATIO = math.log(RATIO)
HISTOGRAMS = {
    "latency_p50_histogram": "latency_p50_ms",
    "latency_p95_histogram": "latency_p95_ms",
    "greeting_histogram": "first_greeting_ms",
}
UNREACHED = {str(outcome) for outcome in UNREACHED_OUTCOMES}


def bucket(ms: float) -> int:
    return int(math.floor(math.log(max(ms, 0.0) + 1.0) / _LOG_RATIO))


def bucket_value(index: int) -> float:
    """The middle of a bucket, in milliseconds."""
    return (RATIO**index + RATIO ** (index + 1)) / 2 - 1


def percentile(values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (as PostgreSQL's percentile_cont)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def histogram_percentile(histogram: dict[int, int], fraction: float) -> float | None:
    """As percentile_cont: interpolated between the two closest ranks, each read as its bucket's middle."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = fraction * (total - 1)
    low, high = math.floor(rank), math.ceil(rank)
    values: dict[int, float] = {}
    seen = 0
    for index in sorted(histogram):
        first, seen = seen, seen + histogram[index]
        for wanted in (low, high):
            if first <= wanted < seen:
                values[wanted] = bucket_value(index)
        if high in values:
            break
    return round(values[low] + (values[high] - values[low]) * (rank - low), 1)


def report_day(moment):
    return moment.astimezone(zoneinfo.ZoneInfo(settings.NEWVOICE_REPORT_TIMEZONE)).date()


def answered(metrics) -> bool:
    return bool(metrics.talk_seconds) or metrics.outcome not in UNREACHED


def _contribution(m: CallMetrics) -> dict:
    turns = m.turns if m.latency_mean_ms is not None else 0
    return {
        "calls": 1,
        "answered": int(answered(m)),
        "latency_turns": turns,
        "latency_weighted": (m.latency_mean_ms or 0.0) * turns,
        "cost_total": m.cost_total if m.cost_total is not None else Decimal(0),
        "unpriced_calls": int(not m.is_priced),
        "talk_seconds": (m.talk_seconds or 0.0) if answered(m) else 0.0,
        "talk_calls": int(answered(m) and m.talk_seconds is not None),
        "total_seconds": m.total_seconds or 0.0,
        "total_calls": int(m.total_seconds is not None),
        "interruptions": m.interruptions,
        "flagged_calls": int(bool(m.qa_flags)),
    }


def _add(row: DailyCallStats, metrics: CallMetrics, sign: int) -> None:
    """Add (or take back) one call's figures to a day's row, in memory."""
    for field, value in _contribution(metrics).items():
        setattr(row, field, getattr(row, field) + value * sign)
    for histogram, source in HISTOGRAMS.items():
        value = getattr(metrics, source)
        if value is not None:
            counts = getattr(row, histogram)
            index = str(bucket(value))
            counts[index] = counts.get(index, 0) + sign
            if counts[index] <= 0:
                del counts[index]


def _locked(model, key: dict):
    """The row for ``key``, locked until the transaction ends; created when missing."""
    for _attempt in range(5):
        row = model.objects.select_for_update().filter(**key).first()
        if row is not None:
            return row
        try:
            with transaction.atomic():
                model.objects.create(**key)
        except IntegrityError:
            continue  # another call of the same day made it first
    return model.objects.select_for_update().get(**key)


def apply(metrics: CallMetrics, steps: list[str], sign: int) -> None:
    """Add (sign=1) or take back (sign=-1) one call's figures. Runs inside the caller's transaction."""
    day = report_day(metrics.ended_at)
    key = {
        "organization_id": metrics.organization_id, "campaign_id": metrics.campaign_id, "skillbase_id": metrics.skillbase_id,
        "skillbase_version_id": metrics.skillbase_version_id, "day": day, "outcome": metrics.outcome, "is_simulated": metrics.is_simulated,
    }  # fmt: skip
    row = _locked(DailyCallStats, key)
    _add(row, metrics, sign)
    if row.calls <= 0:  # the day's last call of this kind moved elsewhere
        row.delete()
    else:
        row.save()
    step_key = {k: key[k] for k in ("organization_id", "campaign_id", "skillbase_version_id", "day", "is_simulated")}
    for position, step in sorted(enumerate(steps), key=lambda item: item[1]):  # one lock order for every writer
        step_row = _locked(DailyStepStats, {**step_key, "step": step})
        DailyStepStats.objects.filter(pk=step_row.pk).update(calls=F("calls") + sign, position_sum=F("position_sum") + position * sign)
    if sign < 0:
        DailyStepStats.objects.filter(**step_key, calls__lte=0).delete()


@transaction.atomic
def rebuild(chunk: int = 5000) -> tuple[int, int]:
    """Recompute every daily figure from the calls' metrics; returns (call rows, step rows) written."""
    DailyCallStats.objects.all().delete()
    DailyStepStats.objects.all().delete()
    calls: dict[tuple, DailyCallStats] = {}
    for m in CallMetrics.objects.order_by().iterator(chunk_size=chunk):
        key = (m.organization_id, m.campaign_id, m.skillbase_id, m.skillbase_version_id, report_day(m.ended_at), m.outcome, m.is_simulated)
        row = calls.get(key)
        if row is None:
            row = calls[key] = DailyCallStats(
                organization_id=key[0], campaign_id=key[1], skillbase_id=key[2], skillbase_version_id=key[3], day=key[4], outcome=key[5],
                is_simulated=key[6], cost_total=Decimal(0), latency_p50_histogram={}, latency_p95_histogram={}, greeting_histogram={},
            )  # fmt: skip
        _add(row, m, 1)
    DailyCallStats.objects.bulk_create(calls.values(), batch_size=1000)
    steps: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    rows = StepReached.objects.order_by().values_list(
        "organization_id", "campaign_id", "skillbase_version_id", "ended_at", "metrics__is_simulated", "step", "position"
    )
    for organization, campaign, version, ended_at, simulated, step, position in rows.iterator(chunk_size=chunk):
        figures = steps[(organization, campaign, version, report_day(ended_at), simulated, step)]
        figures[0] += 1
        figures[1] += position
    DailyStepStats.objects.bulk_create(
        [
            DailyStepStats(
                organization_id=o, campaign_id=c, skillbase_version_id=v, day=d, is_simulated=s, step=step, calls=n, position_sum=p
            )
            for (o, c, v, d, s, step), (n, p) in steps.items()
        ],
        batch_size=1000,
    )
    return len(calls), len(steps)
