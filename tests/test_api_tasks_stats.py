"""The contacts (call tasks) of every campaign a user can see, and campaign figures: tasks and calls
by status and outcome, answer rate, spend against the budget."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Call, CallTask, Campaign, Outcome
from tests.support.engine import add_contacts, make_campaign

TaskStatus, CallStatus = CallTask.Status, Call.Status


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def call(task: CallTask, *, status=CallStatus.ENDED, outcome="", answered=False, attempt=None) -> Call:
    now = timezone.now()
    return Call.objects.create(
        organization_id=task.organization_id,
        campaign_id=task.campaign_id,
        task=task,
        attempt=attempt or task.calls.count() + 1,
        skillbase_version=task.campaign.skillbase.current_version,
        phone=task.phone,
        dialer="scripted",
        status=status,
        outcome=outcome,
        answered_at=now if answered else None,
        ended_at=now if status == CallStatus.ENDED else None,
    )


def set_task(task: CallTask, **fields) -> CallTask:
    CallTask.objects.filter(pk=task.pk).update(**fields)
    task.refresh_from_db()
    return task


@pytest.fixture
def spring(org, skillbase):
    return make_campaign(org, skillbase, contacts=3, name="Spring")


@pytest.fixture
def autumn(org, skillbase):
    campaign = make_campaign(org, skillbase, name="Autumn")
    add_contacts(campaign, 2, first=100)
    return campaign


@pytest.fixture
def theirs(other_org, skillbase_factory):
    return make_campaign(other_org, skillbase_factory(other_org, "Theirs"), contacts=2, name="Theirs")


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


# /api/tasks


def test_tasks_of_my_campaigns_only(spring, autumn, theirs, viewer):
    response = api(viewer).get("/api/tasks")
    assert ids(response) == sorted(CallTask.objects.filter(campaign__in=[spring, autumn]).values_list("pk", flat=True))
    body = response.json()
    assert body["count"] == 5 and body["next"] is None
    assert set(body["results"][0]) == {
        "id", "campaign", "phone", "other_phones", "number_to_dial", "name", "variables", "timezones", "status", "outcome",
        "attempts", "next_attempt_at", "last_attempt_at", "result", "source_row", "created_at", "updated_at",
    }  # fmt: skip


def test_tasks_are_paginated(spring, viewer):
    add_contacts(spring, 60, first=1000)
    body = api(viewer).get("/api/tasks").json()
    assert body["count"] == 63 and len(body["results"]) == 50 and body["next"].endswith("?page=2")


def test_filter_by_campaign_status_outcome_and_phone(spring, autumn, viewer):
    first, second, third = spring.tasks.order_by("id")
    set_task(first, status=TaskStatus.COMPLETED, outcome="success")
    set_task(second, status=TaskStatus.FAILED, outcome="busy")
    client = api(viewer)
    assert ids(client.get(f"/api/tasks?campaign={autumn.pk}")) == list(autumn.tasks.order_by("id").values_list("pk", flat=True))
    assert ids(client.get("/api/tasks?status=pending")) == [third.pk, *autumn.tasks.order_by("id").values_list("pk", flat=True)]
    assert ids(client.get("/api/tasks?outcome=busy")) == [second.pk]
    assert ids(client.get(f"/api/tasks?campaign={spring.pk}&status=completed&outcome=success")) == [first.pk]
    assert ids(client.get("/api/tasks", {"phone": third.phone})) == [third.pk]


def test_filter_by_next_attempt_range_and_order(spring, viewer):
    now = timezone.now().replace(microsecond=0)
    first, second, third = spring.tasks.order_by("id")
    for task, hours in ((first, 5), (second, 1), (third, 3)):
        set_task(task, next_attempt_at=now + dt.timedelta(hours=hours))
    client = api(viewer)
    after, before = (now + dt.timedelta(hours=2)).isoformat(), (now + dt.timedelta(hours=4)).isoformat()
    assert ids(client.get("/api/tasks", {"next_attempt_at_after": after})) == [first.pk, third.pk]
    assert ids(client.get("/api/tasks", {"next_attempt_at_after": after, "next_attempt_at_before": before})) == [third.pk]
    assert ids(client.get("/api/tasks?ordering=next_attempt_at")) == [second.pk, third.pk, first.pk]
    assert ids(client.get("/api/tasks?ordering=-next_attempt_at")) == [first.pk, third.pk, second.pk]


@pytest.mark.parametrize(
    "query, field",
    [
        ("status=done", "status"),
        ("outcome=maybe", "outcome"),
        ("next_attempt_at_after=tomorrow", "next_attempt_at"),
        ("campaign=abc", "campaign"),
    ],
)
def test_bad_filters_are_400(spring, viewer, query, field):
    response = api(viewer).get(f"/api/tasks?{query}")
    assert response.status_code == 400 and field in response.json(), response.content


def test_filtering_by_another_organizations_campaign_is_refused(spring, theirs, viewer):
    response = api(viewer).get(f"/api/tasks?campaign={theirs.pk}")
    assert response.status_code == 400
    assert response.json() == {"campaign": ["Select a valid choice. That choice is not one of the available choices."]}


def test_a_task_and_another_organizations_task(spring, theirs, viewer):
    mine, other = spring.tasks.first(), theirs.tasks.first()
    response = api(viewer).get(f"/api/tasks/{mine.pk}")
    assert response.status_code == 200 and response.json()["phone"] == mine.phone
    assert api(viewer).get(f"/api/tasks/{other.pk}").status_code == 404


def test_tasks_are_read_only(spring, viewer, operator):
    task = spring.tasks.first()
    assert api(viewer).post("/api/tasks", {"phone": "+79160000001"}, format="json").status_code == 403
    assert api(operator).post("/api/tasks", {"phone": "+79160000001"}, format="json").status_code == 405
    assert api(operator).delete(f"/api/tasks/{task.pk}").status_code == 405


def test_tasks_anonymous_is_401(spring):
    assert api().get("/api/tasks").status_code == 401


def test_tasks_have_no_n_plus_one(spring, autumn, viewer, django_assert_max_num_queries):
    client = api(viewer)
    with django_assert_max_num_queries(4) as few:
        assert client.get("/api/tasks").json()["count"] == 5
    add_contacts(spring, 20, first=1000)
    add_contacts(make_campaign(spring.organization, spring.skillbase, name="Winter"), 20, first=2000)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get("/api/tasks").json()["count"] == 45


# /api/campaigns/{id}/stats


@pytest.fixture
def called(spring):
    """Spring after a few calls: one success (answered), one busy then a live retry, one untouched."""
    first, second, _third = spring.tasks.order_by("id")
    set_task(first, status=TaskStatus.COMPLETED, outcome="success", attempts=1)
    call(first, outcome="success", answered=True)
    set_task(second, status=TaskStatus.IN_PROGRESS, outcome="busy", attempts=2)
    call(second, outcome="busy")
    call(second, status=CallStatus.DIALING)
    Campaign.objects.filter(pk=spring.pk).update(spent=Decimal("1.25"), budget_cap=Decimal("10.00"))
    return spring


def zeros(choices) -> dict:
    return {value: 0 for value in choices.values}


def test_campaign_stats(called, viewer):
    response = api(viewer).get(f"/api/campaigns/{called.pk}/stats")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "campaigns": {"total": 1, "by_status": {**zeros(Campaign.Status), "draft": 1}},
        "tasks": {
            "total": 3,
            "by_status": {**zeros(TaskStatus), "pending": 1, "in_progress": 1, "completed": 1},
            "by_outcome": {**zeros(Outcome), "success": 1, "busy": 1},
        },
        "calls": {
            "total": 3,
            "by_status": {**zeros(CallStatus), "ended": 2, "dialing": 1},
            "by_outcome": {**zeros(Outcome), "success": 1, "busy": 1},
            "answered": 1,
            "answer_rate": 0.5,
        },
        "budget": {"spent": "1.250000", "cap": "10.00", "remaining": "8.750000", "share_spent": 0.125},
        "currency": "USD",
    }


def test_stats_of_a_campaign_without_calls_or_cap(spring, viewer):
    body = api(viewer).get(f"/api/campaigns/{spring.pk}/stats").json()
    assert body["calls"]["total"] == 0 and body["calls"]["answer_rate"] is None
    assert body["budget"] == {"spent": "0.000000", "cap": None, "remaining": None, "share_spent": None}


def test_another_organizations_campaign_stats_are_not_found(theirs, viewer):
    assert api(viewer).get(f"/api/campaigns/{theirs.pk}/stats").status_code == 404


def test_campaign_stats_anonymous_is_401(spring):
    assert api().get(f"/api/campaigns/{spring.pk}/stats").status_code == 401


def test_campaign_stats_refuse_writes(spring, viewer, operator):
    assert api(viewer).post(f"/api/campaigns/{spring.pk}/stats").status_code == 403
    assert api(operator).post(f"/api/campaigns/{spring.pk}/stats").status_code == 405


# /api/stats


def test_stats_across_my_campaigns(called, autumn, theirs, viewer):
    call(theirs.tasks.first(), outcome="success", answered=True)
    Campaign.objects.filter(pk=autumn.pk).update(spent=Decimal("0.75"), budget_cap=Decimal("5.00"))
    body = api(viewer).get("/api/stats").json()
    assert body["campaigns"] == {"total": 2, "by_status": {**zeros(Campaign.Status), "draft": 2}}
    assert body["tasks"]["total"] == 5 and body["tasks"]["by_status"]["pending"] == 3
    assert body["calls"]["total"] == 3 and body["calls"]["answered"] == 1
    assert body["budget"] == {"spent": "2.000000", "cap": "15.00", "remaining": "13.000000", "share_spent": pytest.approx(2 / 15)}


def test_one_uncapped_campaign_means_no_overall_cap(called, autumn, viewer):
    body = api(viewer).get("/api/stats").json()
    assert body["budget"]["cap"] is None and body["budget"]["spent"] == "1.250000"


def test_stats_of_one_campaign(called, autumn, viewer):
    everything = api(viewer).get(f"/api/campaigns/{called.pk}/stats").json()
    assert api(viewer).get(f"/api/stats?campaign={called.pk}").json() == everything


@pytest.mark.parametrize("value", ["abc", "0", "-3"])
def test_stats_refuse_a_bad_campaign(spring, viewer, value):
    response = api(viewer).get(f"/api/stats?campaign={value}")
    assert response.status_code == 400 and "campaign" in response.json()


def test_stats_of_another_organizations_campaign_are_not_found(theirs, viewer):
    assert api(viewer).get(f"/api/stats?campaign={theirs.pk}").status_code == 404


def test_a_user_without_organizations_gets_empty_figures(called, django_user_model):
    loner = django_user_model.objects.create_user(username="loner")
    body = api(loner).get("/api/stats").json()
    assert body["campaigns"]["total"] == 0 and body["tasks"]["total"] == 0 and body["budget"]["cap"] is None


def test_stats_anonymous_is_401(spring):
    assert api().get("/api/stats").status_code == 401


def test_stats_take_the_same_queries_however_many_campaigns_and_calls(called, viewer):
    client = api(viewer)
    with CaptureQueriesContext(connection) as one:
        assert client.get("/api/stats").status_code == 200
    for number in range(3):
        campaign = make_campaign(called.organization, called.skillbase, contacts=0, name=f"More {number}")
        for task in add_contacts(campaign, 4, first=1000 * (number + 1)):
            call(task, outcome="no_answer")
    with CaptureQueriesContext(connection) as many:
        body = client.get("/api/stats").json()
    assert body["calls"]["total"] == 3 + 12
    assert len(many.captured_queries) == len(one.captured_queries)
