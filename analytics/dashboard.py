"""The analytics dashboard: calls by outcome, cost and response latency per day, and the step funnel,
for one campaign or every campaign the user may see, drawn as inline SVG.

Totals, days, campaigns and the funnel come from ``analytics.reports.summary``; the latency
histogram is counted here, by the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin
from django.db.models import Count, F, QuerySet, Value
from django.db.models.functions import Floor, Least
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from analytics import charts, reports
from analytics.models import CallMetrics
from analytics.templatetags.analytics_format import money
from campaigns.models import Campaign, Outcome
from skillbases.outcomes import OUTCOME_COLORS
from tenancy.scoping import organization_ids

DEFAULT_DAYS = 30
MAX_DAYS = 366
HISTOGRAM_BARS = 20
# Bucket widths of the latency histogram, in milliseconds: round numbers a reader can add up.
BUCKET_WIDTHS = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000)
COST_COLOR, LATENCY_COLOR, FUNNEL_COLOR = "#417690", "#79aec8", "#5b8c5a"


class DashboardForm(forms.Form):
    campaign = forms.ModelChoiceField(
        label=gettext_lazy("Campaign"), queryset=Campaign.objects.none(), required=False, empty_label=gettext_lazy("All campaigns")
    )
    date_from = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    date_to = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    calls = forms.ChoiceField(
        label=gettext_lazy("Calls"),
        required=False,
        choices=[
            ("", gettext_lazy("Real and simulated")),
            ("real", gettext_lazy("Real only")),
            ("simulated", gettext_lazy("Simulated only")),
        ],
    )

    def __init__(self, data, *, campaigns: QuerySet, today: dt.date):
        # Always bound, the default period filled in: the date boxes show the days the charts cover.
        self.default_period = {"date_from": today - dt.timedelta(days=DEFAULT_DAYS - 1), "date_to": today}
        super().__init__({**self.default_period, **{key: value for key, value in data.items() if value}})
        self.fields["campaign"].queryset = campaigns

    def clean(self):
        cleaned = super().clean()
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            raise forms.ValidationError(_("The first day comes after the last."))
        if date_from and date_to and (date_to - date_from).days >= MAX_DAYS:
            raise forms.ValidationError(_("Choose at most %(days)d days.") % {"days": MAX_DAYS})
        return cleaned

    def filters(self) -> reports.Filters:
        """What the valid form asks for; the last 30 days of every campaign when it is not valid."""
        values = self.cleaned_data if self.is_valid() else self.default_period
        campaign = values.get("campaign")
        return reports.Filters(
            campaign=campaign.pk if campaign else None,
            date_from=values["date_from"],
            date_to=values["date_to"],
            simulated={"real": False, "simulated": True}.get(values.get("calls") or ""),
            timezone=timezone.get_current_timezone_name(),
        )


@dataclass(frozen=True)
class Bucket:
    low: float
    high: float | None  # None: the last bucket, every slower call
    calls: int

    @property
    def label(self) -> str:
        return f"≥{self.low:g}" if self.high is None else f"{self.low:g}–{self.high:g}"


def latency_histogram(organization_ids, filters: reports.Filters) -> list[Bucket]:
    """How many calls had each median response latency, in round-width buckets. The slowest 2% of
    calls share the last bucket, so one stuck call does not squeeze every other bar to a sliver."""
    rows = filters.apply(CallMetrics.objects.filter(organization_id__in=organization_ids, latency_p50_ms__isnull=False))
    top = rows.aggregate(top=reports.Percentile("latency_p50_ms", 0.98))["top"]
    if top is None:
        return []
    width = next((w for w in BUCKET_WIDTHS if w * HISTOGRAM_BARS >= top), BUCKET_WIDTHS[-1])
    last = int(top // width) + 1
    counts = dict(
        rows.order_by()
        .annotate(bucket=Least(Floor(F("latency_p50_ms") / Value(float(width))), Value(float(last))))
        .values("bucket")
        .annotate(calls=Count("id"))
        .values_list("bucket", "calls")
    )
    counts = {int(bucket): calls for bucket, calls in counts.items()}
    return [Bucket(i * width, (i + 1) * width if i < last else None, counts.get(i, 0)) for i in range(last + 1)]


def each_day(groups: list[dict], first: dt.date, last: dt.date) -> list[dict]:
    """One entry per day from ``first`` to ``last``, with the figures of the day, or none."""
    by_day = {group["key"]: group for group in groups}
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    return [{"day": day, **by_day.get(day.isoformat(), {"calls": 0, "outcomes": {}, "total_cost": 0, "unpriced_calls": 0})} for day in days]


def outcome_chart(days: list[dict]) -> tuple[str, list[dict]]:
    labels = [day["day"].strftime("%m-%d") for day in days]
    seen = {outcome for day in days for outcome in day["outcomes"]}
    legend, series = [], []
    for outcome in Outcome:
        if outcome.value in seen:
            values = [day["outcomes"].get(outcome.value, 0) for day in days]
            series.append(charts.Series(str(outcome.label), OUTCOME_COLORS[outcome], values))
            legend.append({"name": outcome.label, "color": OUTCOME_COLORS[outcome], "calls": sum(values)})
    title = _("Calls per day by outcome")
    return charts.bar_chart(labels, series, title=title, whole=True, css_class="calls-per-day"), legend


def cost_chart(days: list[dict], currency: str) -> str:
    labels = [day["day"].strftime("%m-%d") for day in days]
    notes = [_("%(count)d unpriced, not counted") % {"count": day["unpriced_calls"]} if day["unpriced_calls"] else "" for day in days]
    values = [float(day["total_cost"]) for day in days]
    series = [charts.Series(_("Cost"), COST_COLOR, values, notes)]
    return charts.bar_chart(
        labels,
        series,
        title=_("Cost per day, %(currency)s") % {"currency": currency},
        fmt=lambda v: money(Decimal(str(v))),
        css_class="cost-per-day",
    )


def latency_chart(buckets: list[Bucket]) -> str:
    series = [charts.Series(_("Calls"), LATENCY_COLOR, [bucket.calls for bucket in buckets])]
    return charts.bar_chart(
        [bucket.label for bucket in buckets],
        series,
        title=_("Calls by median response latency, ms"),
        whole=True,
        css_class="latency-histogram",
    )


def funnel_chart(funnel: list[dict]) -> str:
    rows = [(row["step"], row["calls"], f"{row['share'] * 100:.0f}%" if row["share"] is not None else "") for row in funnel]
    return charts.funnel_chart(rows, title=_("Calls that reached each step"), color=FUNNEL_COLOR, css_class="step-funnel")


def dashboard(request):
    """The admin's analytics dashboard (GET filters: campaign, date_from, date_to, calls)."""
    campaigns = Campaign.objects.for_user(request.user).order_by("name")
    form = DashboardForm(request.GET, campaigns=campaigns, today=timezone.localdate())
    filters = form.filters()
    allowed = organization_ids(request.user)
    report = reports.summary(allowed, filters, group_by="day")
    days = each_day(report["groups"], filters.date_from, filters.date_to)
    calls_chart, legend = outcome_chart(days)
    currency = settings.NEWVOICE_CURRENCY
    by_campaign = []
    if filters.campaign is None:
        query = {key: value for key, value in request.GET.items() if key != "campaign"}
        by_campaign = [
            {**group, "url": "?" + urlencode({**query, "campaign": group["key"]})}
            for group in reports.summary(allowed, filters, group_by="campaign")["groups"]
        ]
    context = {
        **admin.site.each_context(request),
        "title": _("Analytics dashboard"),
        "form": form,
        "filters": filters,
        "totals": report["totals"],
        "currency": currency,
        "calls_chart": calls_chart if report["totals"]["calls"] else "",
        "legend": legend,
        "cost_chart": cost_chart(days, currency) if report["totals"]["calls"] else "",
        "latency_chart": latency_chart(buckets) if (buckets := latency_histogram(allowed, filters)) else "",
        "funnel_chart": funnel_chart(report["funnel"]) if report["funnel"] else "",
        "by_campaign": by_campaign,
        "opts": CallMetrics._meta,
    }
    return TemplateResponse(request, "admin/analytics/dashboard.html", context)
