"""A campaign's settings are checked by the model's rules at every door (the API as the admin), and
one campaign whose settings are broken anyway (written before a rule existed) never stops the
engine for anyone else: its calls still end, the reaper goes on, its campaign pauses saying why."""

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.actions import finish_call
from campaigns.dispatch import tick
from campaigns.models import Call, CallTask, Campaign
from tests.support.engine import add_contacts, make_campaign, started, use_scripted_dialer

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture(autouse=True)
def scripted_line(settings):
    use_scripted_dialer(settings)


def payload(skillbase, **fields) -> dict:
    return {"name": "Spring", "skillbase": skillbase.pk, "dialer": "scripted", **fields}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"retry_policy": "x"}, "retry_policy"),
        ({"retry_policy": []}, "retry_policy"),
        ({"retry_policy": {"nonsense": {"retry": True}}}, "retry_policy"),
        ({"retry_policy": {"busy": {"retry": True, "delay_minutes": -5}}}, "retry_policy"),
        ({"calling_window_start": "20:00", "calling_window_end": "09:00"}, "calling_window_end"),
        ({"calling_window_start": "10:00", "calling_window_end": "10:00"}, "calling_window_end"),
        ({"calling_days": []}, "calling_days"),
        ({"calling_days": "1,2,3"}, "calling_days"),
        ({"calling_days": [0, 8]}, "calling_days"),
        ({"calling_days": [[1]]}, "calling_days"),
        ({"calling_days": [1.5]}, "calling_days"),
        ({"calling_days": [True]}, "calling_days"),
        ({"simulator_personas": "x"}, "simulator_personas"),
        ({"simulator_personas": {"agree": -1}}, "simulator_personas"),
        ({"budget_cap": "-1"}, "budget_cap"),
        ({"budget_cap": "0"}, "budget_cap"),
        ({"failure_threshold": 1.5}, "failure_threshold"),
        ({"failure_threshold": -0.1}, "failure_threshold"),
        ({"starts_at": "9999-12-31T00:00:00Z"}, "starts_at"),
        ({"starts_at": "2031-01-02T00:00:00Z", "ends_at": "2031-01-01T00:00:00Z"}, "ends_at"),
        ({"starts_at": "2031-01-01T00:00:00Z", "ends_at": "2031-01-01T00:00:00Z"}, "ends_at"),
    ],
)
def test_the_api_refuses_settings_the_model_refuses_naming_the_field(org, skillbase, operator, fields, field):
    response = api(operator).post("/api/campaigns", payload(skillbase, **fields), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Campaign.objects.exists()


def test_an_update_is_checked_with_what_it_leaves_unchanged(org, skillbase, operator):
    campaign = make_campaign(org, skillbase, calling_window_start=dt.time(9), calling_window_end=dt.time(18))
    response = api(operator).patch(f"/api/campaigns/{campaign.pk}", {"calling_window_start": "19:00"}, format="json")
    assert response.status_code == 400 and "calling_window_end" in response.json()
    campaign.refresh_from_db()
    assert campaign.calling_window_start == dt.time(9)


def test_start_refuses_an_end_date_that_has_passed(org, skillbase, operator):
    campaign = make_campaign(org, skillbase, contacts=1)
    Campaign.objects.filter(pk=campaign.pk).update(ends_at=timezone.now() - dt.timedelta(days=1))
    response = api(operator).post(f"/api/campaigns/{campaign.pk}/start")
    assert response.status_code == 409
    assert "The campaign's end date has passed: set a later one." in response.json()["problems"]


def test_start_refuses_settings_written_before_they_were_checked(org, skillbase):
    campaign = make_campaign(org, skillbase, contacts=1)
    Campaign.objects.filter(pk=campaign.pk).update(retry_policy="x")
    campaign.refresh_from_db()
    problems = campaign.control("start")
    assert problems and problems[0].startswith("retry_policy: ")


def test_a_broken_retry_policy_ends_the_call_pauses_its_campaign_and_stops_nobody_else(org, other_org, skillbase, skillbase_factory):
    broken = started(make_campaign(org, skillbase, contacts=2))
    Campaign.objects.filter(pk=broken.pk).update(retry_policy="x")  # as an old row could hold
    healthy = started(make_campaign(other_org, skillbase_factory(other_org), contacts=3, max_concurrent_calls=1))
    task = broken.tasks.first()
    CallTask.objects.filter(pk=task.pk).update(status=CallTask.Status.IN_PROGRESS, attempts=1)
    call = Call.objects.create(
        organization=org, campaign=broken, task=task, attempt=1, phone=task.phone, dialer="scripted",
        skillbase_version=skillbase.current_version, status=Call.Status.IN_PROGRESS,
    )  # fmt: skip
    finish_call(call.pk, outcome="busy")
    call.refresh_from_db()
    task.refresh_from_db()
    broken.refresh_from_db()
    assert call.status == Call.Status.ENDED
    # The contact moves on by the default policy (busy: again in 30 minutes), and the campaign waits for a fix.
    assert task.status == CallTask.Status.PENDING and task.next_attempt_at > timezone.now() + dt.timedelta(minutes=29)
    assert broken.status == Campaign.Status.PAUSED and "retry policy is invalid" in broken.status_reason
    # The other organization's campaign goes on being dispatched.
    Campaign.objects.filter(pk=healthy.pk).update(rate_updated_at=timezone.now() - dt.timedelta(minutes=1))
    report = tick()
    assert report.placed.get(healthy.pk) == 1


def test_the_reaper_ends_lost_calls_of_a_campaign_with_a_broken_policy_and_dispatch_goes_on(org, other_org, skillbase, skillbase_factory):
    campaign = make_campaign(org, skillbase)
    tasks = add_contacts(campaign, 2, first=40)
    started(campaign)
    CallTask.objects.filter(pk__in=[task.pk for task in tasks]).update(status=CallTask.Status.IN_PROGRESS, attempts=1)
    Campaign.objects.filter(pk=campaign.pk).update(retry_policy={"lost": "never"})
    expired = timezone.now() - dt.timedelta(seconds=1)
    calls = [
        Call.objects.create(
            organization=org,
            campaign=campaign,
            task=task,
            attempt=1,
            phone=task.phone,
            dialer="scripted",
            skillbase_version=skillbase.current_version,
            status=Call.Status.IN_PROGRESS,
            lease_expires_at=expired,
        )  # fmt: skip
        for task in tasks
    ]
    healthy = started(make_campaign(other_org, skillbase_factory(other_org), contacts=1))
    Campaign.objects.filter(pk=healthy.pk).update(rate_updated_at=timezone.now() - dt.timedelta(minutes=1))
    report = tick()
    assert report.reaped == 2 and report.placed.get(healthy.pk) == 1
    assert {call.status for call in Call.objects.filter(pk__in=[c.pk for c in calls])} == {Call.Status.ENDED}
