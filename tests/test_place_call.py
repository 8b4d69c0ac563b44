"""``place_call``, the django-q2 task: it may be delivered more than once, and a call is dialled once."""

import datetime as dt

import pytest

from campaigns.actions import finish_call
from campaigns.leases import lease_seconds, worker_name
from campaigns.models import Call, CallTask, Outcome
from campaigns.tasks import place_call
from tests.support.engine import PLACED, T0, Dispatcher, make_campaign, started, use_scripted_dialer


@pytest.fixture(autouse=True)
def scripted_line(settings):
    use_scripted_dialer(settings)


@pytest.fixture
def queued(org, skillbase, django_capture_on_commit_callbacks):
    """Queue one call per line given, as the dispatcher does; returns their ids."""

    def queue(*lines: str) -> list[int]:
        campaign = make_campaign(org, skillbase, contacts=0)
        for number, line in enumerate(lines):
            CallTask.objects.create(organization=org, campaign=campaign, phone=f"+7916100{number:04d}", variables={"line": line})
        started(campaign)
        return Dispatcher(django_capture_on_commit_callbacks)(T0)

    return queue


@pytest.mark.parametrize("deliveries", [2, 3])
def test_a_call_delivered_again_is_dialled_once(queued, deliveries):
    (call_id,) = queued("answer")
    for _ in range(deliveries):
        place_call(call_id)
    assert PLACED == [call_id]
    call = Call.objects.get(pk=call_id)
    assert call.status == Call.Status.IN_PROGRESS and call.lease_owner == worker_name() and call.answered_at
    assert call.lease_expires_at == call.dial_started_at + dt.timedelta(seconds=lease_seconds())


def test_the_lease_is_as_long_as_the_setting_says(queued, settings):
    settings.NEWVOICE_CALL_LEASE_SECONDS = 25
    (call_id,) = queued("answer")
    place_call(call_id)
    call = Call.objects.get(pk=call_id)
    assert call.lease_expires_at == call.dial_started_at + dt.timedelta(seconds=25)


def test_a_call_that_ended_is_not_dialled_again(queued):
    (call_id,) = queued("busy")
    place_call(call_id)
    place_call(call_id)
    assert PLACED == [call_id]
    call = Call.objects.get(pk=call_id)
    assert (call.status, call.outcome, call.task.status) == (Call.Status.ENDED, Outcome.BUSY, CallTask.Status.PENDING)


@pytest.mark.parametrize("status", [Call.Status.DIALING, Call.Status.IN_PROGRESS])
def test_a_call_not_queued_is_not_dialled(queued, status):
    (call_id,) = queued("success")
    Call.objects.filter(pk=call_id).update(status=status)  # another worker has it
    place_call(call_id)
    assert PLACED == []
    assert Call.objects.get(pk=call_id).status == status


def test_a_call_ended_before_it_was_dialled_is_not_dialled(queued):
    (call_id,) = queued("success")
    finish_call(call_id, outcome=Outcome.LOST)  # e.g. the reaper, the task having waited too long
    place_call(call_id)
    assert PLACED == []


@pytest.mark.django_db
def test_a_missing_call_is_ignored():
    place_call(987654)
    assert PLACED == []


def test_a_dialer_that_raises_ends_the_call_failed_once(queued):
    (call_id,) = queued("raise")
    place_call(call_id)
    place_call(call_id)
    assert PLACED == [call_id]
    call = Call.objects.get(pk=call_id)
    assert (call.status, call.outcome, call.error) == (Call.Status.ENDED, Outcome.FAILED, "ConnectionError: the SIP trunk hung up")
    assert call.lease_expires_at is None and not Call.objects.live().exists()
