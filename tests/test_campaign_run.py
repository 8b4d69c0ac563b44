"""The ``campaign`` and ``dialer`` commands: a simulated campaign run from start to finish with the demo
salon script, and the terminal's list/start/pause/resume/cancel/status with their errors."""

import datetime as dt
import signal
from collections import Counter
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.models import OrmQ

from campaigns.models import CALLBACK_GRACE_ATTEMPTS, UNREACHED_OUTCOMES, Call, CallTask, Campaign, DoNotCallEntry
from campaigns.policy import parse_retry_policy
from tests.support.engine import add_contacts, make_campaign, started, use_scripted_dialer
from voiceagent.simulated_callee import GOALS, UNANSWERED, choose_persona

DEMO = Path(__file__).resolve().parent.parent / "newvoice" / "demo"
MIX = {
    "agree": 14,
    "interrupt": 3,
    "refuse": 6,
    "callback": 4,
    "voicemail": 4,
    "opt_out": 3,
    "busy": 4,
    "no_answer": 4,
    "silent": 2,
    "invalid": 2,
    "declined": 2,
}
# What a persona says on its first call: its goal, the line's signal, or what the agent makes of it.
FIRST_OUTCOME = {**GOALS, **UNANSWERED, "voicemail": "voicemail", "silent": "no_response"}


def expected_end(persona: str, campaign: Campaign) -> tuple[str, str, int]:
    """(task status, final outcome, calls made) for a contact who answers every call the same way."""
    outcome = FIRST_OUTCOME[persona]
    rules = parse_retry_policy(campaign.retry_policy)
    if outcome == "callback_requested":
        calls = campaign.max_attempts + CALLBACK_GRACE_ATTEMPTS
    elif outcome in rules and rules[outcome].retry:
        calls = campaign.max_attempts
    else:
        calls = 1
    return (CallTask.Status.FAILED if outcome in UNREACHED_OUTCOMES else CallTask.Status.COMPLETED), outcome, calls


def run(*args) -> str:
    out = StringIO()
    call_command("campaign", *map(str, args), stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_simulated_campaign_runs_to_completion(org, salon, settings):
    settings.NEWVOICE_DIALER = "simulator"
    settings.NEWVOICE_SIMULATOR_SPEED = 1.0  # through the fixture: the command's --speed lands in this override, undone afterwards
    org.max_concurrent_calls = 10
    org.save(update_fields=["max_concurrent_calls"])
    # Two attempts keep the run short; the expected endings follow from whatever the policy says.
    campaign = make_campaign(
        org, salon, dialer="", calls_per_minute=6000, max_concurrent_calls=8, max_attempts=2, simulator_personas=MIX, simulator_seed=7
    )
    # One contact of each persona by the column, the rest by the seeded mix.
    for number, persona in enumerate(MIX):
        add_contacts(campaign, 1, first=number, variables={"service": "маникюр", "persona": persona})
    add_contacts(campaign, 50 - len(MIX), first=len(MIX), variables={"service": "маникюр"})
    output = run("run", campaign.pk, "--speed", "0")

    campaign.refresh_from_db()
    assert (campaign.status, campaign.status_reason) == (Campaign.Status.COMPLETED, "Every contact is done.")
    tasks = list(campaign.tasks.all())
    personas = {task.pk: choose_persona(task.variables, MIX, 7, task.pk) for task in tasks}
    assert set(personas.values()) == set(MIX) and len(tasks) == 50
    for task in tasks:
        persona = personas[task.pk]
        status, outcome, calls = expected_end(persona, campaign)
        assert (task.status, task.outcome, task.attempts) == (status, outcome, calls), persona
        assert list(task.calls.order_by("attempt").values_list("attempt", "persona", "outcome")) == [
            (attempt, persona, outcome) for attempt in range(1, calls + 1)
        ], persona
    expected = Counter(expected_end(persona, campaign)[1] for persona in personas.values())
    assert Counter(task.outcome for task in tasks) == expected
    assert not Call.objects.live().exists()
    assert DoNotCallEntry.objects.filter(organization=org).count() == expected["opted_out"]
    statuses = Counter(task.status for task in tasks)
    contacts = f"completed {statuses['completed']}, failed {statuses['failed']}"
    assert f"Spring: Completed (Every contact is done.)\n  contacts: {contacts}\n" in output
    assert "  outcomes: " + ", ".join(f"{o} {n}" for o, n in sorted(expected.items())) in output


@pytest.mark.django_db(transaction=True)
def test_a_run_dispatches_only_its_own_campaign(org, other_org, salon, skillbase_factory, settings):
    """``campaign run`` moves its clock ahead to the next retry; another running campaign must neither
    be dialled on that clock (its contacts' windows would be read at the wrong hour) nor have its token
    bucket dated in the future."""
    use_scripted_dialer(settings)
    settings.NEWVOICE_DIALER = "simulator"
    other = started(make_campaign(other_org, skillbase_factory(other_org), contacts=2))
    bucket = Campaign.objects.values_list("rate_updated_at", flat=True).get(pk=other.pk)
    demo = make_campaign(org, salon, dialer="", max_attempts=2, simulator_personas={"busy": 1})
    add_contacts(demo, 2, variables={"service": "маникюр"})
    assert "Spring: Completed (Every contact is done.)" in run("run", demo.pk, "--speed", "0")
    assert demo.calls.count() == 4  # busy twice each: the clock jumped to the retries
    assert not other.calls.exists()
    assert Campaign.objects.values_list("rate_updated_at", flat=True).get(pk=other.pk) == bucket


# The terminal


def test_list_start_pause_resume_cancel_and_status(org, skillbase, settings):
    use_scripted_dialer(settings)
    spring = make_campaign(org, skillbase, contacts=2)
    empty = make_campaign(org, skillbase, name="Empty")
    assert run("list") == f"{spring.pk:>5}  Draft      Acme Salon: Spring\n{empty.pk:>5}  Draft      Acme Salon: Empty\n"
    assert run("status", spring.pk) == "Spring: Draft\n  contacts: pending 2\n"
    assert run("start", spring.pk) == "Spring: Running\n  contacts: pending 2\n"
    assert run("pause", spring.pk) == "Spring: Paused (Paused by an operator.)\n  contacts: pending 2\n"
    assert run("resume", spring.pk) == "Spring: Running\n  contacts: pending 2\n"
    assert run("cancel", spring.pk) == "Spring: Cancelled (Cancelled.)\n  contacts: cancelled 2\n"
    assert run("list").startswith(f"{spring.pk:>5}  Cancelled  Acme Salon: Spring\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("status", 4040), "No campaign with id 4040."),
        (("status",), "'status' needs a campaign id."),
        # The model's words, as the admin and the API say them.
        (("pause", "draft"), "The campaign cannot be paused. Only a running campaign can be paused; this one is Draft."),
        (("resume", "draft"), "The campaign cannot resume. Only a paused campaign can resume; this one is Draft."),
        (("start", "empty"), "The campaign cannot start. There is nobody to call: import contacts first."),
        (
            ("cancel", "cancelled"),
            "The campaign cannot be cancelled. Only a draft, running or paused campaign can be cancelled; this one is Cancelled.",
        ),
        (("start", "cancelled"), "The campaign cannot start. Only a draft or paused campaign can start; this one is Cancelled."),
    ],
)
def test_command_errors(org, skillbase, settings, args, message):
    use_scripted_dialer(settings)
    campaigns = {
        "draft": make_campaign(org, skillbase, contacts=1),
        "empty": make_campaign(org, skillbase, name="Empty"),
        "cancelled": make_campaign(org, skillbase, name="Gone", contacts=1),
    }
    campaigns["cancelled"].cancel()
    args = [campaigns[a].pk if a in campaigns else a for a in args]
    with pytest.raises(CommandError) as raised:
        run(*args)
    assert str(raised.value) == message


@pytest.mark.django_db(transaction=True)  # the loop closes stale connections, as it must between passes
@pytest.mark.parametrize("command", ["dispatcher", "dialer"])  # the dispatcher, and its old name
def test_the_dispatcher_makes_one_pass(org, skillbase, settings, command):
    use_scripted_dialer(settings)
    campaign = started(make_campaign(org, skillbase, contacts=3, max_concurrent_calls=2))
    # Started a minute ago: the token bucket has filled (it starts empty).
    Campaign.objects.filter(pk=campaign.pk).update(rate_updated_at=timezone.now() - dt.timedelta(minutes=1))
    out = StringIO()
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        call_command(command, "--once", stdout=out)
    finally:
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])
    assert out.getvalue() == (
        f"Dispatcher running, a pass every 1 s.\ncalls started: campaign {campaign.pk}: 2; lost calls ended: 0; rescheduled: 0\n"
    )
    # Each call went to django-q2 as a place_call task that takes the call's id.
    calls = sorted(campaign.calls.values_list("id", flat=True))
    queued = sorted(OrmQ.objects.all(), key=lambda q: q.task["args"])
    assert [(q.func(), q.task["args"], q.name()) for q in queued] == [
        ("campaigns.tasks.place_call", (call_id,), f"call-{call_id}") for call_id in calls
    ]


@pytest.mark.django_db(transaction=True)
def test_a_run_at_speed_zero_finishes_the_seeded_dental_campaign(settings):
    """The virtual clock jumps to the next retry; the bucket must still refill after the jump (it
    used to stay empty with the clock stopped there, and the run spun for ever)."""
    import threading

    settings.NEWVOICE_SIMULATOR_SPEED = 1.0  # the command's --speed lands in this override
    call_command("seed_demo", stdout=StringIO())
    campaign = Campaign.objects.get(name="Bright Smile appointment reminders")
    run("start", campaign.pk)
    done = threading.Event()

    def run_it():
        try:
            run("run", campaign.pk, "--speed", "0", "--workers", "3")
        finally:
            done.set()

    threading.Thread(target=run_it, daemon=True).start()
    finished = done.wait(timeout=60)
    if not finished:  # stop the loop (it ends once its campaign is no longer running), then fail
        Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.CANCELLED)
        done.wait(timeout=30)
    assert finished, "campaign run --speed 0 did not return within 60 s"
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert not campaign.tasks.filter(status__in=[CallTask.Status.PENDING, CallTask.Status.IN_PROGRESS]).exists()
    # Retries happened at their scheduled (virtual) times: some contact was called more than once.
    assert Counter(campaign.calls.values_list("task_id", flat=True)).most_common(1)[0][1] > 1
