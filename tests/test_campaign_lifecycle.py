"""A campaign's life: starting (and why it may not), pause, resume, cancel, completion, what each call's
outcome does to its contact, opt-outs, and the safety rails that pause a campaign by themselves."""

import copy
import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.actions import finish_call
from campaigns.models import CALLBACK_GRACE_ATTEMPTS, Call, CallTask, Campaign, DoNotCallEntry, Outcome
from campaigns.tasks import place_call
from skillbases.models import Skillbase
from tests.support.engine import T0, Dispatcher, add_contacts, make_campaign, started, use_scripted_dialer

SECOND = dt.timedelta(seconds=1)
Status, TaskStatus = Campaign.Status, CallTask.Status


@pytest.fixture(autouse=True)
def scripted_line(settings):
    use_scripted_dialer(settings)


@pytest.fixture
def dispatch(django_capture_on_commit_callbacks):
    return Dispatcher(django_capture_on_commit_callbacks)


@pytest.fixture
def answered(dispatch):
    """Claim and place the due calls at ``now``; their lines pick up and wait for ``finish_call``."""

    def claim(now=T0) -> list[int]:
        ids = dispatch(now)
        for call_id in ids:
            place_call(call_id)
        return ids

    return claim


def refreshed(instance):
    instance.refresh_from_db()
    return instance


# Starting


def test_a_valid_campaign_starts(org, skillbase):
    campaign = make_campaign(org, skillbase, contacts=1)
    assert campaign.start() == []
    campaign.refresh_from_db()
    assert campaign.status == Status.RUNNING and campaign.started_at and campaign.rate_updated_at


def test_start_refuses_an_invalid_skillbase(org, skillbase):
    campaign = make_campaign(org, skillbase, contacts=1)
    broken = copy.deepcopy(skillbase.flow)
    broken["start"] = "nowhere"
    Skillbase.objects.filter(pk=skillbase.pk).update(flow=broken)  # past the validation every write path runs
    campaign = Campaign.objects.get(pk=campaign.pk)
    (problem,) = campaign.start()
    assert problem.startswith("The skillbase's configuration is invalid: ") and "nowhere" in problem
    assert refreshed(campaign).status == Status.DRAFT


def test_start_refuses_a_campaign_with_nobody_to_call(org, skillbase):
    campaign = make_campaign(org, skillbase, contacts=2)
    campaign.tasks.update(status=TaskStatus.CANCELLED)
    assert campaign.start() == ["There is nobody to call: import contacts first."]
    assert refreshed(campaign).status == Status.DRAFT


def test_start_refuses_an_unknown_dialer_and_lists_every_problem(org, skillbase):
    campaign = make_campaign(org, skillbase, dialer="pigeon")
    nobody, dialer = (str(p) for p in campaign.start())
    assert nobody == "There is nobody to call: import contacts first."
    assert dialer.startswith("Unknown dialer 'pigeon'. Configured: ") and "simulator" in dialer


def test_start_refuses_a_language_model_without_its_key(org, skillbase_factory, minimal_config, settings, monkeypatch):
    settings.NEWVOICE_DIALER = "simulator"
    smart = skillbase_factory(org, name="Smart", config={**minimal_config, "llm": {"provider": "openai", "model": "gpt-4o-mini"}})
    campaign = make_campaign(org, smart, contacts=1, dialer="")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert campaign.start() == ["The skillbase's language model needs OPENAI_API_KEY in the environment."]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert campaign.start() == []


def test_only_a_draft_or_paused_campaign_starts(org, skillbase):
    campaign = started(make_campaign(org, skillbase, contacts=1))
    assert campaign.start() == ["Only a draft or paused campaign can start; this one is Running."]
    assert campaign.resume() == ["Only a paused campaign can resume; this one is Running."]


# Pause, resume, cancel, completion


def test_pause_stops_new_calls_at_once_and_lets_live_calls_finish(org, skillbase, answered):
    campaign = started(make_campaign(org, skillbase, contacts=6, max_concurrent_calls=2, variables={"line": "answer"}))
    first, second = answered(T0)
    assert campaign.pause()
    assert (campaign.status, campaign.status_reason) == (Status.PAUSED, "Paused by an operator.")
    assert answered(T0 + SECOND) == []
    # The live calls finish and their contacts move on, though no new call starts.
    finish_call(first, outcome=Outcome.SUCCESS)
    finish_call(second, outcome=Outcome.BUSY)
    assert Call.objects.get(pk=first).task.status == TaskStatus.COMPLETED
    assert Call.objects.get(pk=second).task.status == TaskStatus.PENDING
    assert answered(T0 + 2 * SECOND) == []
    assert refreshed(campaign).status == Status.PAUSED
    assert not campaign.pause()
    assert campaign.resume() == []
    assert len(answered(T0 + 3 * SECOND)) == 2


def test_a_paused_campaign_completes_when_its_last_call_ends(org, skillbase, answered):
    campaign = started(make_campaign(org, skillbase, contacts=1, variables={"line": "answer"}))
    (call_id,) = answered(T0)
    campaign.pause()
    finish_call(call_id, outcome=Outcome.REFUSAL)
    assert refreshed(campaign).status == Status.COMPLETED


def test_cancel_cancels_pending_contacts_and_live_calls_finish(org, skillbase, answered):
    campaign = started(make_campaign(org, skillbase, contacts=5, max_concurrent_calls=2, variables={"line": "answer"}))
    done, retried = answered(T0)
    assert campaign.cancel()
    assert (campaign.status, campaign.status_reason) == (Status.CANCELLED, "Cancelled.") and campaign.finished_at
    assert sorted(campaign.tasks.values_list("status", flat=True)) == [TaskStatus.CANCELLED] * 3 + [TaskStatus.IN_PROGRESS] * 2
    assert answered(T0 + SECOND) == []
    finish_call(done, outcome=Outcome.SUCCESS)
    finish_call(retried, outcome=Outcome.NO_ANSWER)  # would be retried; the campaign is over
    assert Call.objects.get(pk=done).task.status == TaskStatus.COMPLETED
    assert (Call.objects.get(pk=retried).task.status, Call.objects.get(pk=retried).task.outcome) == (
        TaskStatus.CANCELLED,
        Outcome.NO_ANSWER,
    )
    assert refreshed(campaign).status == Status.CANCELLED
    assert not campaign.cancel()
    assert campaign.start() == ["Only a draft or paused campaign can start; this one is Cancelled."]


def test_a_draft_can_be_cancelled(org, skillbase):
    campaign = make_campaign(org, skillbase, contacts=2)
    assert campaign.cancel()
    assert set(campaign.tasks.values_list("status", flat=True)) == {TaskStatus.CANCELLED}


def test_the_campaign_completes_when_its_last_contact_is_done(org, skillbase, answered):
    campaign = started(make_campaign(org, skillbase, contacts=2, variables={"line": "answer"}))
    first, last = answered(T0)
    finish_call(first, outcome=Outcome.SUCCESS)
    assert refreshed(campaign).status == Status.RUNNING
    finish_call(last, outcome=Outcome.INVALID_NUMBER)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.status_reason) == (Status.COMPLETED, "Every contact is done.") and campaign.finished_at
    assert not campaign.pause() and not campaign.cancel()


# What an outcome does to the contact


@pytest.mark.parametrize(
    ("outcome", "delay_minutes", "status"),
    [
        (Outcome.BUSY, 30, TaskStatus.PENDING),
        (Outcome.NO_ANSWER, 120, TaskStatus.PENDING),
        (Outcome.FAILED, 60, TaskStatus.PENDING),
        (Outcome.LOST, 10, TaskStatus.PENDING),
        (Outcome.VOICEMAIL, 240, TaskStatus.PENDING),
        (Outcome.DECLINED, None, TaskStatus.FAILED),  # not in the default policy
        (Outcome.INVALID_NUMBER, None, TaskStatus.FAILED),
        (Outcome.SUCCESS, None, TaskStatus.COMPLETED),
        (Outcome.REFUSAL, None, TaskStatus.COMPLETED),
        (Outcome.OPTED_OUT, None, TaskStatus.COMPLETED),
    ],
)
def test_the_default_retry_policy(org, skillbase, answered, outcome, delay_minutes, status):
    started(make_campaign(org, skillbase, contacts=1, variables={"line": "answer"}))
    (call_id,) = answered(T0)
    before = timezone.now()
    finish_call(call_id, outcome=outcome)
    task = Call.objects.get(pk=call_id).task
    assert (task.status, task.outcome, task.attempts) == (status, outcome, 1)
    if delay_minutes:
        delay = dt.timedelta(minutes=delay_minutes)
        assert before + delay <= task.next_attempt_at <= timezone.now() + delay


def test_a_campaigns_own_policy(org, skillbase, answered):
    policy = {"busy": {"retry": False}, "declined": {"retry": True, "delay_minutes": 5}}
    campaign = started(make_campaign(org, skillbase, contacts=3, retry_policy=policy, variables={"line": "answer"}))
    busy, declined, no_answer = answered(T0)
    finish_call(busy, outcome=Outcome.BUSY)
    finish_call(declined, outcome=Outcome.DECLINED)
    finish_call(no_answer, outcome=Outcome.NO_ANSWER)
    statuses = {call.outcome: call.task.status for call in campaign.calls.select_related("task")}
    assert statuses == {Outcome.BUSY: TaskStatus.FAILED, Outcome.DECLINED: TaskStatus.PENDING, Outcome.NO_ANSWER: TaskStatus.FAILED}


def test_no_retry_after_max_attempts(org, skillbase, answered):
    campaign = started(make_campaign(org, skillbase, contacts=1, max_attempts=2, variables={"line": "answer"}))
    (first,) = answered(T0)
    finish_call(first, outcome=Outcome.BUSY)
    (second,) = answered(T0 + SECOND)  # busy retries after 30 minutes of real time, long before the test clock
    assert Call.objects.get(pk=second).attempt == 2
    finish_call(second, outcome=Outcome.BUSY)
    task = campaign.tasks.get()
    assert (task.status, task.outcome, task.attempts, task.calls.count()) == (TaskStatus.FAILED, Outcome.BUSY, 2, 2)
    assert refreshed(campaign).status == Status.COMPLETED


def test_a_callback_is_scheduled_at_the_asked_time(org, skillbase, answered):
    started(make_campaign(org, skillbase, contacts=3, variables={"line": "answer"}))
    asked, unsaid, past = answered(T0)
    tomorrow_at_five = timezone.now().replace(microsecond=0) + dt.timedelta(days=1)
    before = timezone.now()
    finish_call(asked, outcome=Outcome.CALLBACK_REQUESTED, callback_at=tomorrow_at_five)
    finish_call(unsaid, outcome=Outcome.CALLBACK_REQUESTED)  # "call me later", no time said
    finish_call(past, outcome=Outcome.CALLBACK_REQUESTED, callback_at=before - dt.timedelta(hours=1))
    tasks = {call_id: Call.objects.get(pk=call_id).task for call_id in (asked, unsaid, past)}
    assert {task.status for task in tasks.values()} == {TaskStatus.PENDING}
    assert tasks[asked].next_attempt_at == tomorrow_at_five
    assert before + dt.timedelta(hours=2) <= tasks[unsaid].next_attempt_at <= timezone.now() + dt.timedelta(hours=2)
    assert before <= tasks[past].next_attempt_at <= timezone.now()


def test_a_callback_is_honoured_a_couple_of_times_past_max_attempts(org, skillbase, answered):
    campaign = started(make_campaign(org, skillbase, contacts=1, max_attempts=1, variables={"line": "answer"}))
    soon = timezone.now() + dt.timedelta(hours=1)
    for attempt in range(1, 2 + CALLBACK_GRACE_ATTEMPTS):
        (call_id,) = answered(T0 + attempt * SECOND)
        assert Call.objects.get(pk=call_id).attempt == attempt
        finish_call(call_id, outcome=Outcome.CALLBACK_REQUESTED, callback_at=soon)
    task = campaign.tasks.get()
    assert (task.status, task.outcome, task.attempts) == (TaskStatus.COMPLETED, Outcome.CALLBACK_REQUESTED, 1 + CALLBACK_GRACE_ATTEMPTS)
    assert answered(T0 + dt.timedelta(days=1)) == []


def test_a_callback_at_night_waits_for_the_window(org, skillbase, answered):
    hours = {"calling_window_start": dt.time(9), "calling_window_end": dt.time(20)}
    campaign = started(make_campaign(org, skillbase, contacts=1, variables={"line": "answer"}, **hours))
    (call_id,) = answered(T0)
    night = T0 + dt.timedelta(hours=16)  # 02:00 in Moscow
    finish_call(call_id, outcome=Outcome.CALLBACK_REQUESTED, callback_at=night)
    assert answered(night) == []
    assert campaign.tasks.get().next_attempt_at == T0 + dt.timedelta(days=1) - dt.timedelta(hours=1)  # 09:00 in Moscow


def test_an_opt_out_blocks_the_number_across_the_organizations_campaigns(org, other_org, skillbase, skillbase_factory, answered):
    spring = started(make_campaign(org, skillbase, contacts=1, variables={"line": "answer"}))
    autumn = make_campaign(org, skillbase, name="Autumn", contacts=2)  # +79160000000 again, and +79160000001
    theirs = make_campaign(other_org, skillbase_factory(other_org), contacts=1)  # the same number, another organization
    (call_id,) = answered(T0)
    finish_call(call_id, outcome=Outcome.OPTED_OUT)
    phone = Call.objects.get(pk=call_id).phone
    entry = DoNotCallEntry.objects.get(organization=org, phone=phone)
    assert (entry.source, entry.reason) == (DoNotCallEntry.Source.OPT_OUT, "Asked on a call not to be called again")
    assert (spring.tasks.get().status, spring.tasks.get().outcome) == (TaskStatus.COMPLETED, Outcome.OPTED_OUT)
    assert dict(autumn.tasks.values_list("phone", "status")) == {phone: TaskStatus.CANCELLED, "+79160000001": TaskStatus.PENDING}
    assert theirs.tasks.get().status == TaskStatus.PENDING
    assert not DoNotCallEntry.objects.filter(organization=other_org).exists()


# Safety rails


@pytest.mark.parametrize(("bad", "paused"), [(12, True), (10, False)])
def test_mostly_failing_calls_pause_the_campaign(org, skillbase, answered, bad, paused):
    campaign = started(make_campaign(org, skillbase, contacts=20, failure_threshold=0.5, failure_window=20, variables={"line": "answer"}))
    ids = answered(T0)
    assert len(ids) == 20
    failures = [Outcome.FAILED, Outcome.LOST, Outcome.INVALID_NUMBER]
    outcomes = [Outcome.SUCCESS] * (20 - bad) + [failures[i % 3] for i in range(bad)]
    for call_id, outcome in zip(ids[:-1], outcomes[:-1], strict=True):
        finish_call(call_id, outcome=outcome)
    assert refreshed(campaign).status == Status.RUNNING  # 19 calls: the window is not full yet
    finish_call(ids[-1], outcome=outcomes[-1])
    campaign.refresh_from_db()
    if not paused:
        assert campaign.status == Status.RUNNING
        return
    assert campaign.status == Status.PAUSED
    assert campaign.status_reason == (
        "Paused automatically: 12 of the last 20 calls failed, were lost or reached invalid numbers (the limit is 50%). "
        "Check the dialer and the contact list, then resume."
    )
    assert answered(T0 + SECOND) == []


def test_a_spent_budget_pauses_the_campaign_when_a_call_ends(org, skillbase, answered):
    campaign = started(make_campaign(org, skillbase, contacts=3, budget_cap=Decimal("10.00"), variables={"line": "answer"}))
    first, second, _third = answered(T0)
    Campaign.objects.filter(pk=campaign.pk).update(spent=Decimal("9.99"))  # the cost of the calls so far
    finish_call(first, outcome=Outcome.SUCCESS)
    assert refreshed(campaign).status == Status.RUNNING
    Campaign.objects.filter(pk=campaign.pk).update(spent=Decimal("10.004"))
    finish_call(second, outcome=Outcome.SUCCESS)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.status_reason) == (Status.PAUSED, "Paused automatically: the budget of 10.00 is spent (10.00).")


def test_a_spent_budget_stops_the_dispatcher_before_any_call_ends(org, skillbase, answered):
    campaign = started(make_campaign(org, skillbase, contacts=3, budget_cap=Decimal("5"), variables={"line": "answer"}))
    Campaign.objects.filter(pk=campaign.pk).update(spent=Decimal("5"))  # e.g. written with the last call's cost
    assert answered(T0) == []
    assert refreshed(campaign).status == Status.PAUSED and "budget" in campaign.status_reason


# The retry policy's validation


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"busy": {"delay_minutes": 0}}, "retry_policy.busy.delay_minutes: Input should be greater than or equal to 1."),
        ({"busy": {"tries": 3}}, "retry_policy.busy.tries: Extra inputs are not permitted."),
        ({"busy": {"retry": "sometimes"}}, "retry_policy.busy.retry: Input should be a valid boolean"),
        ({"busy": 30}, "retry_policy.busy: Input should be a valid dictionary"),
        ({"success": {"retry": True}}, "retry_policy.success: 'success' cannot be retried here; retryable outcomes are no_answer, busy"),
        (["busy"], 'retry_policy: must be an object like {"busy": {"retry": true, "delay_minutes": 30}}.'),
    ],
)
def test_a_bad_retry_policy_names_the_path(org, skillbase, policy, message):
    campaign = Campaign(organization=org, skillbase=skillbase, name="Bad", retry_policy=policy)
    with pytest.raises(ValidationError) as raised:
        campaign.full_clean()
    assert message in raised.value.message_dict["retry_policy"][0]


def test_every_problem_of_a_retry_policy_is_listed(org, skillbase):
    campaign = Campaign(organization=org, skillbase=skillbase, name="Bad", retry_policy={"busy": {"delay_minutes": 0}, "refusal": {}})
    with pytest.raises(ValidationError) as raised:
        campaign.full_clean()
    (text,) = raised.value.message_dict["retry_policy"]
    assert "retry_policy.busy.delay_minutes:" in text and "retry_policy.refusal:" in text


def test_contacts_added_to_a_running_campaign_are_called_too(org, skillbase, answered):
    campaign = started(make_campaign(org, skillbase, contacts=1, variables={"line": "answer"}))
    (first,) = answered(T0)
    add_contacts(campaign, 2, first=10)
    assert len(answered(T0 + SECOND)) == 2
    finish_call(first, outcome=Outcome.SUCCESS)
    assert refreshed(campaign).status == Status.COMPLETED  # the added contacts' lines ended their calls at once
