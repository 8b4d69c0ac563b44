"""Aggregate figures over ``CallMetrics``, computed by the database in one pass per question.

Percentiles are PostgreSQL's ``percentile_cont``; on SQLite the same aggregate is registered as a
Python aggregate on each connection, so both answer in SQL and give the same numbers.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.backends.signals import connection_created
from django.db.models import Aggregate, Avg, Count, F, FloatField, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.dispatch import receiver

from analytics import rollups
from analytics.models import CallMetrics, DailyCallStats, DailyStepStats, StepReached
from campaigns.models import UNREACHED_OUTCOMES, Campaign, Outcome
from skillbases.models import Skillbase, SkillbaseVersion

GROUPS = ("day", "campaign", "skillbase", "skillbase_version", "outcome")
ANSWERED = Q(talk_seconds__gt=0) | ~Q(outcome__in=[str(o) for o in UNREACHED_OUTCOMES])


class Percentile(Aggregate):
    """The continuous percentile (linear interpolation) of a column."""

    function = "PERCENTILE_CONT"
    name = "Percentile"
    output_field = FloatField()
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        if not 0 <= fraction <= 1:
            raise ValueError("A percentile's fraction is between 0 and 1.")
        super().__init__(expression, fraction=repr(float(fraction)), **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, function="newvoice_percentile", template="%(function)s(%(expressions)s, %(fraction)s)")


class _SqlitePercentile:
    def __init__(self):
        self.values: list[float] = []
        self.fraction = 0.5

    def step(self, value, fraction):
        if value is not None:
            self.values.append(value)
            self.fraction = fraction

    def finalize(self):
        return rollups.percentile(self.values, self.fraction)


@receiver(connection_created)
def register_sqlite_functions(sender, connection, **kwargs):
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate("newvoice_percentile", 2, _SqlitePercentile)


@dataclass
class Filters:
    campaign: int | None = None
    skillbase: int | None = None
    skillbase_version: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    simulated: bool | None = None
    timezone: str = "UTC"

    def apply(self, rows: QuerySet) -> QuerySet:
        zone = zoneinfo.ZoneInfo(self.timezone)
        if self.campaign is not None:
            rows = rows.filter(campaign_id=self.campaign)
        if self.skillbase is not None and rows.model is CallMetrics:
            rows = rows.filter(skillbase_id=self.skillbase)
        elif self.skillbase is not None:
            rows = rows.filter(skillbase_version__skillbase_id=self.skillbase)
        if self.skillbase_version is not None:
            rows = rows.filter(skillbase_version_id=self.skillbase_version)
        if self.date_from is not None:
            rows = rows.filter(ended_at__gte=dt.datetime.combine(self.date_from, dt.time.min, tzinfo=zone))
        if self.date_to is not None:
            rows = rows.filter(ended_at__lt=dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time.min, tzinfo=zone))
        if self.simulated is not None and rows.model is CallMetrics:
            rows = rows.filter(is_simulated=self.simulated)
        return rows

    def apply_days(self, rows: QuerySet) -> QuerySet:
        """The same filters on daily figures (kept in the report zone, which this query uses)."""
        if self.campaign is not None:
            rows = rows.filter(campaign_id=self.campaign)
        if self.skillbase is not None:
            rows = rows.filter(skillbase_version__skillbase_id=self.skillbase)
        if self.skillbase_version is not None:
            rows = rows.filter(skillbase_version_id=self.skillbase_version)
        if self.date_from is not None:
            rows = rows.filter(day__gte=self.date_from)
        if self.date_to is not None:
            rows = rows.filter(day__lte=self.date_to)
        if self.simulated is not None:
            rows = rows.filter(is_simulated=self.simulated)
        return rows


def _figures() -> dict:
    figures = {
        "calls": Count("id"),
        "answered": Count("id", filter=ANSWERED),
        "successes": Count("id", filter=Q(outcome=Outcome.SUCCESS)),
        "latency_turns": Sum("turns", filter=Q(latency_mean_ms__isnull=False)),
        "latency_weighted": Sum(F("latency_mean_ms") * F("turns"), filter=Q(latency_mean_ms__isnull=False), output_field=FloatField()),
        "latency_p50_ms": Percentile("latency_p50_ms", 0.5),
        "latency_p95_ms": Percentile("latency_p95_ms", 0.95),
        "first_greeting_p50_ms": Percentile("first_greeting_ms", 0.5),
        "total_cost": Sum("cost_total"),
        "unpriced_calls": Count("id", filter=Q(is_priced=False)),
        "mean_talk_seconds": Avg("talk_seconds", filter=ANSWERED),
        "mean_total_seconds": Avg("total_seconds"),
        "interruptions": Sum("interruptions"),
        "flagged_calls": Count("id", filter=~Q(qa_flags=[])),
    }
    for outcome in Outcome.values:
        figures[f"outcome_{outcome}"] = Count("id", filter=Q(outcome=outcome))
    return figures


def _shape(row: dict) -> dict:
    calls, answered, successes = row["calls"], row["answered"], row["successes"]
    total_cost = row["total_cost"] if row["total_cost"] is not None else Decimal(0)
    turns = row.pop("latency_turns") or 0
    weighted = row.pop("latency_weighted")
    out = {key: value for key, value in row.items() if not key.startswith("outcome_")}
    out.update(
        answer_rate=_ratio(answered, calls),
        success_rate=_ratio(successes, answered),
        latency_mean_ms=round(weighted / turns, 1) if turns and weighted is not None else None,
        total_cost=total_cost.quantize(Decimal("0.000001")),
        cost_per_success=(total_cost / successes).quantize(Decimal("0.000001")) if successes else None,
        outcomes={key.removeprefix("outcome_"): value for key, value in row.items() if key.startswith("outcome_") and value},
    )
    for key in ("latency_p50_ms", "latency_p95_ms", "first_greeting_p50_ms", "mean_talk_seconds", "mean_total_seconds"):
        if out.get(key) is not None:
            out[key] = round(out[key], 1)
    return out


def _labels(group_by: str, keys: list) -> dict:
    """Names for the groups' ids, looked up once (not joined into the scan)."""
    if group_by == "campaign":
        return dict(Campaign.objects.filter(pk__in=keys).values_list("pk", "name"))
    if group_by == "skillbase":
        return dict(Skillbase.objects.filter(pk__in=keys).values_list("pk", "name"))
    if group_by == "skillbase_version":
        return {
            pk: f"{name} v{number}"
            for pk, name, number in SkillbaseVersion.objects.filter(pk__in=keys).values_list("pk", "name", "version")
        }
    if group_by == "outcome":
        return {key: str(Outcome(key).label) for key in keys if key in Outcome.values}
    return {}


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def summary(organization_ids, filters: Filters, group_by: str | None = None) -> dict:
    """Totals, optional groups and the step funnel of the calls of these organizations.

    Up to ``NEWVOICE_ROLLUP_THRESHOLD`` calls every figure is computed from the calls themselves;
    beyond, from the daily figures (same counts and money; percentiles from histograms), provided
    the days asked for are counted in the zone the daily figures use.
    """
    if group_by and group_by not in GROUPS:
        raise ValueError(f"Unknown group_by '{group_by}'. Use one of: {', '.join(GROUPS)}.")
    if filters.timezone == settings.NEWVOICE_REPORT_TIMEZONE:
        daily = filters.apply_days(DailyCallStats.objects.filter(organization_id__in=organization_ids))
        calls = daily.aggregate(calls=Sum("calls"))["calls"] or 0
        if calls and calls >= settings.NEWVOICE_ROLLUP_THRESHOLD:
            steps = filters.apply_days(DailyStepStats.objects.filter(organization_id__in=organization_ids))
            return _summary_from_days(daily, steps, group_by)
    rows = filters.apply(CallMetrics.objects.filter(organization_id__in=organization_ids))
    figures = _figures()
    result: dict = {"totals": _shape(rows.aggregate(**figures)), "exact_percentiles": True}
    if group_by:
        key = {
            "day": TruncDate("ended_at", tzinfo=zoneinfo.ZoneInfo(filters.timezone)),
            "campaign": F("campaign_id"),
            "skillbase": F("skillbase_id"),
            "skillbase_version": F("skillbase_version_id"),
            "outcome": F("outcome"),
        }[group_by]
        grouped = rows.order_by().annotate(key=key).values("key")
        groups = []
        for row in grouped.annotate(**figures).order_by("key"):
            key_value = row.pop("key")
            groups.append({"key": key_value.isoformat() if isinstance(key_value, dt.date) else key_value, **_shape(row)})
        names = _labels(group_by, [group["key"] for group in groups])
        for group in groups:
            group["label"] = names.get(group["key"], str(group["key"]))
        result["groups"] = groups
    steps = StepReached.objects.filter(organization_id__in=organization_ids)
    if filters.simulated is not None:
        steps = steps.filter(metrics__is_simulated=filters.simulated)
    result["funnel"] = funnel(steps, filters, result["totals"]["calls"])
    return result


_SUMMED = (
    "calls", "answered", "latency_turns", "latency_weighted", "cost_total", "unpriced_calls", "talk_seconds", "talk_calls",
    "total_seconds", "total_calls", "interruptions", "flagged_calls",
)  # fmt: skip
_KEYS = {
    "day": "day",
    "campaign": "campaign_id",
    "skillbase": "skillbase_id",
    "skillbase_version": "skillbase_version_id",
    "outcome": "outcome",
}


def _fold(rows: list[dict]) -> dict:
    """Daily rows added up into the figures ``_shape`` reads."""
    sums = dict.fromkeys(_SUMMED, 0)
    sums["cost_total"] = Decimal(0)
    histograms: dict[str, dict[int, int]] = {name: {} for name in rollups.HISTOGRAMS}
    outcomes: dict[str, int] = {}
    for row in rows:
        for name in _SUMMED:
            sums[name] += row[name]
        outcomes[row["outcome"]] = outcomes.get(row["outcome"], 0) + row["calls"]
        for name, merged in histograms.items():
            for index, count in row[name].items():
                index = int(index)
                merged[index] = merged.get(index, 0) + count
    return {
        "calls": sums["calls"],
        "answered": sums["answered"],
        "successes": outcomes.get(Outcome.SUCCESS, 0),
        "latency_turns": sums["latency_turns"],
        "latency_weighted": sums["latency_weighted"] if sums["latency_turns"] else None,
        "latency_p50_ms": rollups.histogram_percentile(histograms["latency_p50_histogram"], 0.5),
        "latency_p95_ms": rollups.histogram_percentile(histograms["latency_p95_histogram"], 0.95),
        "first_greeting_p50_ms": rollups.histogram_percentile(histograms["greeting_histogram"], 0.5),
        "total_cost": sums["cost_total"],
        "unpriced_calls": sums["unpriced_calls"],
        "mean_talk_seconds": sums["talk_seconds"] / sums["talk_calls"] if sums["talk_calls"] else None,
        "mean_total_seconds": sums["total_seconds"] / sums["total_calls"] if sums["total_calls"] else None,
        "interruptions": sums["interruptions"],
        "flagged_calls": sums["flagged_calls"],
        **{f"outcome_{outcome}": count for outcome, count in outcomes.items()},
    }


def _summary_from_days(daily: QuerySet, steps: QuerySet, group_by: str | None) -> dict:
    rows = list(
        daily.order_by().values("day", "campaign_id", "skillbase_id", "skillbase_version_id", "outcome", *_SUMMED, *rollups.HISTOGRAMS)
    )
    result: dict = {"totals": _shape(_fold(rows)), "exact_percentiles": False}
    if group_by:
        grouped: dict = {}
        for row in rows:
            grouped.setdefault(row[_KEYS[group_by]], []).append(row)
        groups = [
            {"key": key.isoformat() if isinstance(key, dt.date) else key, **_shape(_fold(members))}
            for key, members in sorted(grouped.items())
        ]
        names = _labels(group_by, [group["key"] for group in groups])
        for group in groups:
            group["label"] = names.get(group["key"], str(group["key"]))
        result["groups"] = groups
    calls = result["totals"]["calls"]
    reached = steps.order_by().values("step").annotate(calls=Sum("calls"), positions=Sum("position_sum")).filter(calls__gt=0)
    result["funnel"] = [
        {"step": row["step"], "calls": row["calls"], "share": _ratio(row["calls"], calls)}
        for row in sorted(reached, key=lambda r: (r["positions"] / r["calls"], -r["calls"], r["step"]))
    ]
    return result


def funnel(steps: QuerySet, filters: Filters, calls: int) -> list[dict]:
    """How many calls reached each flow step, in the order the steps are usually reached."""
    rows = filters.apply(steps).order_by().values("step").annotate(calls=Count("id"), order=Avg("position"))
    return [
        {"step": row["step"], "calls": row["calls"], "share": _ratio(row["calls"], calls)}
        for row in sorted(rows, key=lambda r: (r["order"], -r["calls"], r["step"]))
    ]
