"""/api/analytics: call history, a call's metrics and transcript, and the aggregates."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from analytics.call_metrics import percentile
from campaigns.models import Call
from tests.support.calls import conversation, ended_call
from tests.support.engine import make_campaign

pytestmark = pytest.mark.django_db
DAY1 = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
DAY2 = dt.datetime(2026, 11, 3, 10, 0, tzinfo=dt.UTC)


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def campaign(org, skillbase):
    return make_campaign(org, skillbase, name="Spring")


@pytest.fixture
def booked(campaign):
    events = conversation(
        ("assistant", "Здравствуйте! Записать вас?"), ("user", "Да, конечно"), ("assistant", "Записала."), steps=("greeting", "booked")
    )
    return ended_call(campaign, events=events, talk_seconds=60, last_step="booked", ended_at=DAY1)


@pytest.fixture
def history(campaign, other_org, skillbase_factory):
    """Calls over two days in two campaigns, and one of another organization."""
    second = make_campaign(campaign.organization, campaign.skillbase, name="Autumn")
    made = []
    for i, (where, outcome, day, latency, steps) in enumerate(
        [
            (campaign, "success", DAY1, 400.0, ("greeting", "offer", "booked")),
            (campaign, "success", DAY1, 800.0, ("greeting", "offer", "booked")),
            (campaign, "refusal", DAY1, 1200.0, ("greeting", "offer")),
            (campaign, "no_answer", DAY2, None, ()),
            (second, "success", DAY2, 600.0, ("greeting", "offer", "booked")),
            (second, "voicemail", DAY2, 300.0, ("greeting",)),
        ]
    ):
        answered = latency is not None
        events = (
            conversation(("assistant", "Добрый день!"), ("user", "Да"), ("assistant", f"Хорошо {i}"), latency_ms=latency, steps=steps)
            if answered
            else []
        )
        made.append(ended_call(where, outcome=outcome, events=events, talk_seconds=60 if answered else None, ended_at=day))
    foreign = make_campaign(other_org, skillbase_factory(other_org), name="Foreign")
    ended_call(foreign, outcome="success", events=conversation(("assistant", "Hi"), steps=("greeting",)), ended_at=DAY1)
    return made


# Call history


def test_calls_lists_the_organizations_calls_with_their_headline(history, viewer):
    response = api(viewer).get("/api/analytics/calls")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 6  # not the other organization's call
    first = body["results"][0]
    assert set(first) >= {"id", "campaign_name", "status", "outcome", "talk_seconds", "cost_total", "currency", "sentiment", "qa_flags"}


def test_calls_filter_by_campaign_outcome_and_date(history, viewer):
    campaign_id = history[0].campaign_id
    got = api(viewer).get("/api/analytics/calls", {"campaign": campaign_id, "outcome": "success"}).json()
    assert sorted(c["id"] for c in got["results"]) == sorted([history[0].pk, history[1].pk])
    got = api(viewer).get("/api/analytics/calls", {"ended_after": "2026-11-03T00:00:00Z"}).json()
    assert got["count"] == 3
    got = api(viewer).get("/api/analytics/calls", {"ordering": "metrics__cost_total"}).json()
    assert got["count"] == 6


def test_calls_list_takes_the_same_queries_for_many_calls(campaign, viewer):
    ended_call(campaign)
    with CaptureQueriesContext(connection) as few:
        assert api(viewer).get("/api/analytics/calls").status_code == 200
    for _ in range(8):
        ended_call(campaign)
    with CaptureQueriesContext(connection) as many:
        assert api(viewer).get("/api/analytics/calls").json()["count"] == 9
    assert len(many) == len(few)


def test_calls_bad_filter_is_a_400_naming_it(viewer):
    response = api(viewer).get("/api/analytics/calls", {"ended_after": "yesterday-ish"})
    assert response.status_code == 400 and "ended_after" in response.json()


def test_calls_need_authentication(history):
    assert api().get("/api/analytics/calls").status_code == 401


def test_another_organizations_call_is_404(history, outsider):
    call = history[0]
    for path in ("", "/metrics", "/transcript"):
        assert api(outsider).get(f"/api/analytics/calls/{call.pk}{path}").status_code == 404


# One call


def test_metrics_of_a_call(booked, viewer):
    body = api(viewer).get(f"/api/analytics/calls/{booked.pk}/metrics").json()
    assert body["call"] == booked.pk and body["outcome"] == "success" and body["turns"] == 1
    assert body["steps_reached"] == ["greeting", "booked"] and body["is_priced"] is True
    assert Decimal(body["cost_total"]) == Decimal("0.010000") and body["currency"] == "USD"


def test_metrics_of_a_live_call_is_a_404_saying_so(campaign, viewer):
    task = campaign.tasks.create(organization=campaign.organization, phone="+79160000001")
    call = Call.objects.create(
        organization=campaign.organization, campaign=campaign, task=task, attempt=1,
        skillbase_version=campaign.skillbase.current_version, phone=task.phone, dialer="livekit", status="in_progress",
    )  # fmt: skip
    response = api(viewer).get(f"/api/analytics/calls/{call.pk}/metrics")
    assert response.status_code == 404 and "no metrics yet" in response.json()["detail"]


def test_transcript_of_a_call(booked, viewer):
    body = api(viewer).get(f"/api/analytics/calls/{booked.pk}/transcript").json()
    assert body["outcome"] == "success"
    assert [(line["role"], line["text"], line["step"]) for line in body["lines"]] == [
        ("assistant", "Здравствуйте! Записать вас?", "booked"),
        ("user", "Да, конечно", "booked"),
        ("assistant", "Записала.", "booked"),
    ]
    assert body["lines"][0]["latency_ms"] == 800.0 and body["lines"][1]["latency_ms"] is None


def test_transcript_marks_what_an_interrupted_bot_did_not_say(campaign, viewer):
    events = conversation(("assistant", "Записать вас на завтра"), ("user", "Да"), steps=("offer",))
    events[1][3]["interrupted"] = True
    events.insert(2, ("interruption", "assistant", "Записать вас на завтра", {"full": "Записать вас на завтра в три часа?"}))
    call = ended_call(campaign, events=events)
    body = api(viewer).get(f"/api/analytics/calls/{call.pk}/transcript").json()
    first = body["lines"][0]
    assert (first["interrupted"], first["unheard"], first["step"]) == (True, "в три часа?", "offer")
    assert body["truncated"] is False and [line["role"] for line in body["lines"]] == ["assistant", "user"]


def test_unknown_call_is_404(viewer):
    assert api(viewer).get("/api/analytics/calls/999999/transcript").status_code == 404
    assert api(viewer).get("/api/analytics/calls/abc/metrics").status_code == 404


# Aggregates


def test_metrics_totals_rates_latency_cost_and_funnel(history, viewer):
    body = api(viewer).get("/api/analytics/metrics").json()
    totals = body["totals"]
    assert (totals["calls"], totals["answered"], totals["successes"]) == (6, 5, 3)
    assert totals["answer_rate"] == round(5 / 6, 4) and totals["success_rate"] == 0.6
    assert totals["outcomes"] == {"success": 3, "refusal": 1, "no_answer": 1, "voicemail": 1}
    # Each answered call had one timed reply (its greeting is counted apart).
    assert totals["latency_p50_ms"] == percentile([400, 800, 1200, 600, 300], 0.5)
    assert totals["latency_p95_ms"] == round(percentile([400, 800, 1200, 600, 300], 0.95), 1)
    assert totals["latency_mean_ms"] == 660.0
    assert Decimal(totals["total_cost"]) == Decimal("0.050000")  # five connected minutes
    assert Decimal(totals["cost_per_success"]) == Decimal("0.016667") and totals["unpriced_calls"] == 0
    assert body["funnel"] == [
        {"step": "greeting", "calls": 5, "share": round(5 / 6, 4)},
        {"step": "offer", "calls": 4, "share": round(4 / 6, 4)},
        {"step": "booked", "calls": 2 + 1, "share": 0.5},
    ]
    assert body["currency"] == "USD"


def test_metrics_grouped_by_day_and_campaign(history, viewer):
    days = api(viewer).get("/api/analytics/metrics", {"group_by": "day"}).json()["groups"]
    assert [(g["key"], g["calls"]) for g in days] == [("2026-11-02", 3), ("2026-11-03", 3)]
    campaigns = api(viewer).get("/api/analytics/metrics", {"group_by": "campaign"}).json()["groups"]
    assert sorted((g["label"], g["calls"], g["successes"]) for g in campaigns) == [("Autumn", 2, 1), ("Spring", 4, 2)]
    outcomes = api(viewer).get("/api/analytics/metrics", {"group_by": "outcome"}).json()["groups"]
    assert {g["key"]: g["calls"] for g in outcomes} == {"success": 3, "refusal": 1, "no_answer": 1, "voicemail": 1}


def test_metrics_days_are_counted_in_the_asked_time_zone(history, viewer):
    # 10:00 UTC is 23:00 in Auckland (UTC+13 in November): the same calls fall a day later.
    days = api(viewer).get("/api/analytics/metrics", {"group_by": "day", "tz": "Pacific/Auckland"}).json()["groups"]
    assert [g["key"] for g in days] == ["2026-11-02", "2026-11-03"]
    days = api(viewer).get("/api/analytics/metrics", {"group_by": "day", "tz": "Pacific/Kiritimati"}).json()["groups"]
    assert [g["key"] for g in days] == ["2026-11-03", "2026-11-04"]


def test_metrics_filters(history, viewer):
    spring = history[0].campaign_id
    body = api(viewer).get("/api/analytics/metrics", {"campaign": spring, "date_from": "2026-11-02", "date_to": "2026-11-02"}).json()
    assert body["totals"]["calls"] == 3 and body["totals"]["outcomes"] == {"success": 2, "refusal": 1}
    assert [s["step"] for s in body["funnel"]] == ["greeting", "offer", "booked"] and body["funnel"][0]["calls"] == 3
    body = api(viewer).get("/api/analytics/metrics", {"skillbase_version": history[0].skillbase_version_id}).json()
    assert body["totals"]["calls"] == 6


def foreign_ids(other_org, skillbase_factory):
    skillbase = skillbase_factory(other_org, name="Theirs")
    campaign = make_campaign(other_org, skillbase, name="Theirs")
    task = campaign.tasks.create(organization=other_org, phone="+79160000099")
    return {
        "organization": other_org.pk, "campaign": campaign.pk, "skillbase": skillbase.pk,
        "skillbase_version": skillbase.current_version.pk, "task": task.pk,
    }  # fmt: skip


@pytest.mark.parametrize("path", ["/api/analytics/metrics", "/api/analytics/calls"])
def test_another_organizations_id_in_a_filter_reads_as_an_unknown_one(history, viewer, other_org, skillbase_factory, path):
    """Never an empty 200 that would tell the id exists: the same 400 as for an id nobody has."""
    for name, foreign in foreign_ids(other_org, skillbase_factory).items():
        if name == "task" and path.endswith("metrics"):
            continue
        theirs = api(viewer).get(path, {name: foreign})
        nobodys = api(viewer).get(path, {name: 10**9})
        assert theirs.status_code == nobodys.status_code == 400, (name, theirs.content)
        assert name in theirs.json()
        assert theirs.content.decode().replace(str(foreign), "ID") == nobodys.content.decode().replace(str(10**9), "ID")
    assert api(viewer).get("/api/analytics/metrics").json()["totals"]["calls"] == 6


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"group_by": "week"}, "group_by"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"date_from": "2026-11-05", "date_to": "2026-11-01"}, "date_to"),
        ({"date_from": "05.11.2026"}, "date_from"),
        ({"campaign": "spring"}, "campaign"),
    ],
)
def test_metrics_bad_query_is_a_400_naming_the_field(viewer, params, field):
    response = api(viewer).get("/api/analytics/metrics", params)
    assert response.status_code == 400 and field in response.json()


def test_metrics_need_authentication():
    assert api().get("/api/analytics/metrics").status_code == 401


def test_metrics_with_no_calls_are_zeros_not_errors(viewer):
    body = api(viewer).get("/api/analytics/metrics", {"group_by": "day"}).json()
    assert body["totals"]["calls"] == 0 and body["totals"]["answer_rate"] is None and body["groups"] == [] and body["funnel"] == []
