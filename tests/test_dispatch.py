"""The dispatcher on a controlled clock: pacing, caps, windows, the do-not-call list, end dates, the reaper.

``tick(now, enqueue=...)`` runs as ``manage.py dispatcher`` runs it, with the test's clock and the call ids
collected instead of sent to django-q2; calls are placed by the real ``place_call`` on a scripted line.
"""

import datetime as dt
import math
from itertools import cycle

import pytest
from django.utils import timezone

from campaigns.actions import finish_call
from campaigns.dispatch import BURST_SECONDS, QUEUED_CALL_TIMEOUT, reap, tick
from campaigns.leases import Lease
from campaigns.models import Call, CallTask, Campaign, DoNotCallEntry, Outcome
from campaigns.tasks import place_call
from tests.support.engine import PLACED, T0, Dispatcher, add_contacts, live_calls, make_campaign, started, use_scripted_dialer

SECOND = dt.timedelta(seconds=1)


@pytest.fixture(autouse=True)
def scripted_line(settings):
    use_scripted_dialer(settings)


@pytest.fixture
def dispatch(django_capture_on_commit_callbacks):
    return Dispatcher(django_capture_on_commit_callbacks)


def place(ids: list[int]) -> None:
    for call_id in ids:
        place_call(call_id)


def roomy(org, calls: int = 1000):
    org.max_concurrent_calls = calls
    org.save(update_fields=["max_concurrent_calls"])
    return org


# Pacing


@pytest.mark.parametrize("per_minute", [60, 100])
def test_five_minutes_of_one_second_ticks_place_the_rate(org, skillbase, per_minute, dispatch):
    roomy(org)
    campaign = started(make_campaign(org, skillbase, contacts=per_minute * 6, calls_per_minute=per_minute, max_concurrent_calls=1000))
    capacity = per_minute / 60 * BURST_SECONDS
    # The campaign started (real time) long before the test clock: the first pass may only burst.
    assert len(dispatch(T0)) == math.floor(capacity)
    per_tick = [len(dispatch(T0 + second * SECOND)) for second in range(1, 301)]
    assert sum(per_tick) == pytest.approx(per_minute * 5, rel=0.02)
    assert max(per_tick) == math.ceil(per_minute / 60)
    # A minute with no pass fills the bucket to its burst, not to a minute's worth of calls.
    assert len(dispatch(T0 + 360 * SECOND)) == math.floor(capacity)
    campaign.refresh_from_db()
    assert campaign.rate_updated_at == T0 + 360 * SECOND and 0 <= campaign.rate_tokens < 1


def test_a_slow_campaign_waits_for_a_whole_token(org, skillbase, dispatch):
    started(make_campaign(org, skillbase, contacts=10, calls_per_minute=6))  # one call per 10 s, a burst of 1
    assert len(dispatch(T0)) == 1
    assert [len(dispatch(T0 + s * SECOND)) for s in range(1, 31)] == [0] * 9 + [1] + [0] * 9 + [1] + [0] * 9 + [1]


# Concurrency caps


def test_caps_per_campaign_and_per_organization_are_never_exceeded_and_always_freed(org, skillbase, dispatch):
    """Two campaigns of one organization: every call of A ends as its line says the moment it is placed
    (any outcome, or the dialer raising); B's calls are answered and ended by the test, one per second."""
    roomy(org, 5)
    lines = [*Outcome.values, "raise"]
    a = make_campaign(org, skillbase, name="A", contacts=0, max_concurrent_calls=4, failure_threshold=1)
    for number, line in zip(range(36), cycle(lines), strict=False):
        add_contacts(a, 1, first=number, variables={"line": line})
    started(a)
    b = started(make_campaign(org, skillbase, name="B", contacts=30, max_concurrent_calls=4, variables={"line": "answer"}))
    endings = cycle(Outcome.values)
    busiest = {"a": 0, "b": 0, "org": 0}
    for second in range(120):
        ids = dispatch(T0 + second * SECOND)
        counts = {"a": live_calls(campaign=a), "b": live_calls(campaign=b), "org": live_calls(organization=org)}
        assert counts["a"] <= 4 and counts["b"] <= 4 and counts["org"] <= 5, (second, counts)
        busiest = {key: max(busiest[key], counts[key]) for key in counts}
        place(ids)
        answered = Call.objects.filter(campaign=b, status=Call.Status.IN_PROGRESS).order_by("id").first()
        if answered:
            finish_call(answered.pk, outcome=next(endings))
    assert busiest == {"a": 4, "b": 4, "org": 5}
    # Every call of A ended at once, the failed dials too, and nothing is left live or half-done.
    assert not Call.objects.live().filter(campaign=a).exists()
    raised = Call.objects.filter(campaign=a, task__variables__line="raise")
    assert raised.exists() and set(raised.values_list("outcome", "error").distinct()) == {
        (Outcome.FAILED, "ConnectionError: the SIP trunk hung up")
    }
    assert Call.objects.filter(campaign=a).count() > 36  # retries came round too
    assert not CallTask.objects.filter(status=CallTask.Status.IN_PROGRESS).exclude(calls__status__in=Call.LIVE_STATUSES).exists()


@pytest.mark.parametrize("outcome", Outcome.values)
def test_a_call_ending_with_any_outcome_frees_its_slot(org, skillbase, outcome, dispatch):
    roomy(org, 1)
    started(make_campaign(org, skillbase, contacts=2, variables={"line": "answer"}))
    (first,) = dispatch(T0)
    place([first])
    assert dispatch(T0 + SECOND) == []
    finish_call(first, outcome=outcome)
    (second,) = dispatch(T0 + 2 * SECOND)
    assert second != first and live_calls() == 1


def test_a_dialer_that_raises_ends_the_call_failed_and_frees_the_slot(org, skillbase, dispatch):
    campaign = make_campaign(org, skillbase, contacts=0, max_concurrent_calls=1)
    add_contacts(campaign, 1, variables={"line": "raise"})
    add_contacts(campaign, 1, first=1, variables={"line": "answer"})
    started(campaign)
    (first,) = dispatch(T0)
    place([first])
    call = Call.objects.get(pk=first)
    assert (call.status, call.outcome, call.error) == (Call.Status.ENDED, Outcome.FAILED, "ConnectionError: the SIP trunk hung up")
    assert call.task.status == CallTask.Status.PENDING  # failed is retried by the default policy
    (second,) = dispatch(T0 + SECOND)
    assert Call.objects.get(pk=second).task.variables == {"line": "answer"}


def test_an_unknown_dialer_at_dialling_time_ends_the_call_failed(org, skillbase, dispatch):
    campaign = started(make_campaign(org, skillbase, contacts=1))
    (call_id,) = dispatch(T0)
    Call.objects.filter(pk=call_id).update(dialer="retired")  # the dialer was removed from settings meanwhile
    place_call(call_id)
    call = Call.objects.get(pk=call_id)
    assert (call.status, call.outcome) == (Call.Status.ENDED, Outcome.FAILED) and "Unknown dialer 'retired'" in call.error
    assert live_calls(campaign=campaign) == 0


def test_claims_create_calls_with_attempt_and_skillbase_version(org, skillbase, dispatch):
    campaign = started(make_campaign(org, skillbase, contacts=3))
    ids = dispatch(T0)
    calls = Call.objects.filter(pk__in=ids).select_related("task")
    assert len(calls) == 3
    for call in calls:
        assert (call.status, call.attempt, call.task.attempts, call.task.status) == (Call.Status.QUEUED, 1, 1, CallTask.Status.IN_PROGRESS)
        assert call.skillbase_version == skillbase.current_version and call.phone == call.task.phone and call.dialer == "scripted"
        assert call.task.last_attempt_at == T0 and call.organization_id == campaign.organization_id


def test_calls_are_enqueued_only_when_the_claim_commits(org, skillbase, django_capture_on_commit_callbacks):
    started(make_campaign(org, skillbase, contacts=2))
    ids: list[int] = []
    with django_capture_on_commit_callbacks() as callbacks:
        tick(T0, enqueue=ids.append)
        assert ids == []  # not before the calls are visible to the worker that will place them
    for callback in callbacks:
        callback()
    assert sorted(ids) == sorted(Call.objects.values_list("id", flat=True))


# Calling windows


def test_contacts_outside_their_window_are_moved_to_its_opening_not_polled(org, skillbase, dispatch):
    campaign = make_campaign(org, skillbase, calling_days=[1, 2, 3, 4, 5], calling_window_start=dt.time(9), calling_window_end=dt.time(20))
    moscow, vladivostok, both = (
        add_contacts(campaign, 1, first=number, timezones=zones)[0]
        for number, zones in enumerate([["Europe/Moscow"], ["Asia/Vladivostok"], ["Europe/Moscow", "Asia/Vladivostok"]])
    )
    started(campaign)
    afternoon = T0 + dt.timedelta(hours=4)  # Monday 14:00 in Moscow, 21:00 in Vladivostok
    ids = dispatch(afternoon)
    assert [Call.objects.get(pk=i).task_id for i in ids] == [moscow.pk]
    assert dispatch.report.rescheduled == 2
    vladivostok.refresh_from_db()
    both.refresh_from_db()
    # Tuesday 09:00 in Vladivostok; both zones: Tuesday 09:00 in Moscow (16:00 in Vladivostok).
    assert vladivostok.next_attempt_at == dt.datetime(2030, 6, 3, 23, 0, tzinfo=dt.UTC)
    assert both.next_attempt_at == dt.datetime(2030, 6, 4, 6, 0, tzinfo=dt.UTC)
    assert vladivostok.status == both.status == CallTask.Status.PENDING and vladivostok.attempts == 0
    # Not looked at again until then.
    assert dispatch(afternoon + SECOND) == [] and dispatch.report.rescheduled == 0
    assert [Call.objects.get(pk=i).task_id for i in dispatch(vladivostok.next_attempt_at)] == [vladivostok.pk]
    assert [Call.objects.get(pk=i).task_id for i in dispatch(both.next_attempt_at)] == [both.pk]


def test_a_contact_whose_window_never_opens_before_the_end_date_fails(org, skillbase, dispatch):
    campaign = make_campaign(
        org,
        skillbase,
        contacts=0,
        calling_window_start=dt.time(9),
        calling_window_end=dt.time(20),
        ends_at=T0 + dt.timedelta(hours=6),
    )
    add_contacts(campaign, 1, timezones=["Asia/Vladivostok"])
    started(campaign)
    assert dispatch(T0 + dt.timedelta(hours=4)) == []  # 21:00 in Vladivostok; it opens again after the end
    task = campaign.tasks.get()
    assert (task.status, task.outcome, task.attempts) == (CallTask.Status.FAILED, "", 0)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


def test_nothing_is_dialled_before_the_start_date(org, skillbase, dispatch):
    campaign = started(make_campaign(org, skillbase, contacts=1, starts_at=T0 + dt.timedelta(days=2)))
    assert dispatch(T0) == []
    assert campaign.tasks.get().next_attempt_at == T0 + dt.timedelta(days=2)
    assert len(dispatch(T0 + dt.timedelta(days=2))) == 1


# Do-not-call, end dates, completion


def test_numbers_on_the_do_not_call_list_are_cancelled_at_claim(org, other_org, skillbase, dispatch):
    campaign = make_campaign(org, skillbase, contacts=3)
    blocked, free, theirs = campaign.tasks.order_by("id")
    DoNotCallEntry.objects.create(organization=org, phone=blocked.phone)  # listed after the import
    DoNotCallEntry.objects.create(organization=other_org, phone=theirs.phone)  # another organization's list
    started(campaign)
    claimed = {Call.objects.get(pk=i).task_id for i in dispatch(T0)}
    assert claimed == {free.pk, theirs.pk}
    blocked.refresh_from_db()
    assert blocked.status == CallTask.Status.CANCELLED and not blocked.calls.exists()


def test_a_campaign_whose_last_contacts_are_blocked_completes(org, skillbase, dispatch):
    campaign = make_campaign(org, skillbase, contacts=2)
    for task in campaign.tasks.all():
        DoNotCallEntry.objects.create(organization=org, phone=task.phone)
    started(campaign)
    assert dispatch(T0) == []
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED and campaign.finished_at is not None
    assert set(campaign.tasks.values_list("status", flat=True)) == {CallTask.Status.CANCELLED}


def test_after_the_end_date_the_campaign_completes_and_pending_contacts_are_cancelled(org, skillbase, dispatch):
    campaign = started(make_campaign(org, skillbase, contacts=3, max_concurrent_calls=1, ends_at=T0 + dt.timedelta(hours=1)))
    (live,) = dispatch(T0)
    assert dispatch(T0 + dt.timedelta(hours=1)) == []
    campaign.refresh_from_db()
    assert (campaign.status, campaign.status_reason) == (Campaign.Status.COMPLETED, "The campaign's end date passed.")
    assert sorted(campaign.tasks.values_list("status", flat=True)) == [CallTask.Status.CANCELLED] * 2 + [CallTask.Status.IN_PROGRESS]
    # The call in progress finishes; a retry it would have earned is not scheduled in an ended campaign.
    finish_call(live, outcome=Outcome.BUSY)
    task = Call.objects.get(pk=live).task
    assert (task.status, task.outcome) == (CallTask.Status.CANCELLED, Outcome.BUSY)
    assert not campaign.tasks.filter(status=CallTask.Status.PENDING).exists()


# The reaper


def test_a_queued_call_nobody_dialled_is_reaped_as_lost_and_never_dialled(org, skillbase, dispatch):
    campaign = started(make_campaign(org, skillbase, contacts=2, max_concurrent_calls=1))
    (call_id,) = dispatch(T0)  # the q2 task never runs (the broker lost it)
    call = Call.objects.get(pk=call_id)
    # The queued lease runs on real time, whatever the dispatcher's clock.
    assert timezone.now() < call.lease_expires_at <= timezone.now() + QUEUED_CALL_TIMEOUT
    assert reap(timezone.now()) == 0
    before = timezone.now()
    assert reap(timezone.now() + QUEUED_CALL_TIMEOUT + SECOND) == 1
    call.refresh_from_db()
    assert (call.status, call.outcome, call.lease_expires_at) == (Call.Status.ENDED, Outcome.LOST, None)
    task = call.task
    assert task.status == CallTask.Status.PENDING and task.attempts == 1
    assert before + dt.timedelta(minutes=10) <= task.next_attempt_at <= timezone.now() + dt.timedelta(minutes=10)  # "lost": 10 min
    place_call(call_id)  # the task turns up after all
    assert PLACED == []
    assert len(dispatch(T0 + SECOND)) == 1  # the slot is free again
    assert campaign.calls.count() == 2


def test_a_call_whose_worker_died_is_reaped_by_the_dialer_loop(org, skillbase, dispatch):
    started(make_campaign(org, skillbase, contacts=1, variables={"line": "vanish"}))
    (call_id,) = dispatch(T0)
    place_call(call_id)
    assert Call.objects.get(pk=call_id).status == Call.Status.IN_PROGRESS
    assert dispatch(T0 + SECOND) == [] and dispatch.report.reaped == 0
    Call.objects.filter(pk=call_id).update(lease_expires_at=timezone.now() - SECOND)  # a minute passes unrenewed
    # The dialer loop reaps it and, the contact being due again by the "lost" rule, dials a second attempt.
    (retry,) = dispatch(T0 + 2 * SECOND)
    assert dispatch.report.reaped == 1
    call = Call.objects.get(pk=call_id)
    assert (call.status, call.outcome) == (Call.Status.ENDED, Outcome.LOST)
    assert "stopped answering" in call.error
    assert (Call.objects.get(pk=retry).task_id, Call.objects.get(pk=retry).attempt) == (call.task_id, 2)
    place_call(call_id)  # django-q2 delivers the first task again
    assert PLACED == [call_id]


def test_a_renewed_lease_is_not_reaped(org, skillbase, dispatch):
    started(make_campaign(org, skillbase, contacts=1, variables={"line": "answer"}))
    (call_id,) = dispatch(T0)
    place_call(call_id)
    call = Call.objects.get(pk=call_id)
    assert Lease(call_id, call.lease_owner, seconds=600).renew()
    assert reap(timezone.now() + dt.timedelta(seconds=61)) == 0
    assert Call.objects.get(pk=call_id).status == Call.Status.IN_PROGRESS
    # Another worker cannot renew it, and an expired lease is reaped.
    assert not Lease(call_id, "someone-else").renew()
    assert reap(timezone.now() + dt.timedelta(seconds=601)) == 1


def test_the_reaper_does_not_end_a_call_renewed_since_it_looked(org, skillbase, dispatch):
    started(make_campaign(org, skillbase, contacts=1, variables={"line": "answer"}))
    (call_id,) = dispatch(T0)
    place_call(call_id)
    scanned_at = timezone.now() + dt.timedelta(seconds=61)  # the reaper saw the lease expired at this time ...
    Lease(call_id, Call.objects.get(pk=call_id).lease_owner, seconds=600).renew()  # ... and the worker renewed it
    finish_call(call_id, outcome=Outcome.LOST, lease_expired_before=scanned_at)
    assert Call.objects.get(pk=call_id).status == Call.Status.IN_PROGRESS


def test_a_lost_call_on_the_last_attempt_fails_the_contact(org, skillbase, dispatch):
    started(make_campaign(org, skillbase, contacts=1, max_attempts=1, variables={"line": "vanish"}))
    (call_id,) = dispatch(T0)
    place_call(call_id)
    assert reap(timezone.now() + dt.timedelta(seconds=61)) == 1
    task = Call.objects.get(pk=call_id).task
    assert (task.status, task.outcome) == (CallTask.Status.FAILED, Outcome.LOST)
