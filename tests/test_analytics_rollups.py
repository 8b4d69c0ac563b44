"""Daily figures: kept with every measured call, and a large report read from them gives the same
counts, money and funnel as the calls themselves (percentiles within a bucket)."""

import datetime as dt
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from analytics import rollups
from analytics.call_metrics import record_call_metrics
from analytics.models import DailyCallStats, DailyStepStats, Price
from tests.support.calls import conversation, ended_call
from tests.support.engine import make_campaign

pytestmark = pytest.mark.django_db
DAYS = [dt.datetime(2026, 11, d, 12, 0, tzinfo=dt.UTC) for d in (2, 3, 4)]


@pytest.fixture
def calls(org, skillbase):
    spring = make_campaign(org, skillbase, name="Spring")
    autumn = make_campaign(org, skillbase, name="Autumn")
    made = []
    plan = [
        (spring, "success", 0, 420.0, ("greeting", "offer", "booked")),
        (spring, "success", 0, 950.0, ("greeting", "offer", "booked")),
        (spring, "refusal", 1, 1330.0, ("greeting", "offer")),
        (spring, "no_answer", 1, None, ()),
        (autumn, "success", 2, 610.0, ("greeting", "offer", "booked")),
        (autumn, "voicemail", 2, 280.0, ("greeting",)),
        (autumn, "callback_requested", 2, 2400.0, ("greeting", "callback")),
    ]
    for campaign, outcome, day, latency, steps in plan:
        events = (
            conversation(("assistant", "Добрый день"), ("user", "Да"), ("assistant", "Хорошо"), latency_ms=latency, steps=steps)
            if latency
            else []
        )
        made.append(ended_call(campaign, outcome=outcome, events=events, talk_seconds=45 if latency else None, ended_at=DAYS[day]))
    return made


def report(user, settings, threshold, **params):
    settings.NEWVOICE_ROLLUP_THRESHOLD = threshold
    client = APIClient()
    client.force_authenticate(user)
    response = client.get("/api/analytics/metrics", params)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize(
    "params", [{}, {"group_by": "day"}, {"group_by": "campaign"}, {"group_by": "outcome"}, {"date_from": "2026-11-03"}]
)
def test_a_report_from_daily_figures_matches_one_from_the_calls(calls, viewer, settings, params):
    exact = report(viewer, settings, 10**9, **params)
    daily = report(viewer, settings, 1, **params)
    assert exact["exact_percentiles"] is True and daily["exact_percentiles"] is False
    percentiles = ("latency_p50_ms", "latency_p95_ms", "first_greeting_p50_ms")
    for got, want in zip([daily["totals"], *daily.get("groups", [])], [exact["totals"], *exact.get("groups", [])], strict=True):
        assert {k: v for k, v in got.items() if k not in percentiles} == {k: v for k, v in want.items() if k not in percentiles}
        for name in percentiles:
            if want[name] is None:
                assert got[name] is None
            else:  # the bucket's middle: within 1% (and a rounding tenth) of the exact value
                assert got[name] == pytest.approx(want[name], rel=0.011, abs=0.2), name
    assert daily["funnel"] == exact["funnel"]


def test_measuring_a_call_again_moves_its_figures_instead_of_adding_them_twice(calls):
    call = calls[0]
    before = DailyCallStats.objects.get(campaign=call.campaign, day=DAYS[0].date(), outcome="success")
    assert before.calls == 2
    Price.objects.create(
        component="telephony", provider="livekit", model="sip", unit="minute", amount="1", effective_from=dt.date(2026, 6, 1)
    )
    record_call_metrics(call)
    after = DailyCallStats.objects.get(pk=before.pk)
    assert after.calls == 2 and sum(after.latency_p50_histogram.values()) == 2
    assert after.cost_total - before.cost_total == Decimal("0.75") - Decimal("0.0075")  # 45 s at $1/min instead of $0.01
    assert DailyStepStats.objects.get(campaign=call.campaign, day=DAYS[0].date(), step="booked").calls == 2


def test_rebuild_gives_the_figures_kept_call_by_call(calls):
    kept = {
        (r.campaign_id, r.day, r.outcome): (r.calls, r.answered, r.cost_total, r.latency_p50_histogram, r.talk_seconds)
        for r in DailyCallStats.objects.all()
    }
    steps = set(DailyStepStats.objects.values_list("campaign_id", "day", "step", "calls", "position_sum"))
    assert rollups.rebuild() == (len(kept), len(steps))
    rebuilt = {
        (r.campaign_id, r.day, r.outcome): (r.calls, r.answered, r.cost_total, r.latency_p50_histogram, r.talk_seconds)
        for r in DailyCallStats.objects.all()
    }
    assert rebuilt == kept
    assert set(DailyStepStats.objects.values_list("campaign_id", "day", "step", "calls", "position_sum")) == steps


def test_histogram_percentiles_are_within_one_percent():
    values = [float(v) for v in range(100, 5000, 7)]
    histogram: dict[int, int] = {}
    for value in values:
        histogram[rollups.bucket(value)] = histogram.get(rollups.bucket(value), 0) + 1
    exact = sorted(values)[len(values) // 2]
    assert rollups.histogram_percentile(histogram, 0.5) == pytest.approx(exact, rel=0.011)
    assert rollups.histogram_percentile({}, 0.5) is None


def test_another_zone_than_the_daily_figures_reads_the_calls(calls, viewer, settings):
    assert report(viewer, settings, 1, tz="Asia/Tokyo")["exact_percentiles"] is True
