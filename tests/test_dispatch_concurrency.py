"""Several dispatchers at once, as when ``manage.py dispatcher`` runs on several machines.

Real threads with their own database connections race on one organization's campaigns while workers
place the calls they enqueue; a watcher samples the live calls in single statements (one snapshot each).
On PostgreSQL the dispatchers contend on row locks (the organization's with SKIP LOCKED, the
campaign's); on SQLite, whose IMMEDIATE transactions let one writer through at a time, the same race
runs smaller, to show that path is correct too.
"""

import queue
import threading
import time
from collections import Counter
from itertools import cycle

import pytest
from django.db import connection, transaction
from django.db.models import Count, Q

from campaigns.dispatch import dispatch_campaign
from campaigns.models import Call, CallTask, Campaign, DoNotCallEntry
from campaigns.tasks import place_call
from tests.support.engine import T0, add_contacts, make_campaign, started, use_scripted_dialer

pytestmark = pytest.mark.django_db(transaction=True)
POSTGRESQL = connection.vendor == "postgresql"
DISPATCHERS, WORKERS = 4, 4
CONTACTS = 30 if POSTGRESQL else 15  # per campaign; SQLite serialises every pass, so it gets fewer
ORG_CAP, CAMPAIGN_CAP = 12, 8
RATE = 60000  # per minute: a bucket of 5000 calls, filled on the first pass and never refilled on the fixed clock


def in_thread(target, errors: list, *args) -> threading.Thread:
    def run():
        try:
            target(*args)
        except Exception as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_racing_dispatchers_never_claim_a_contact_twice_nor_exceed_the_caps(org, skillbase, settings):
    use_scripted_dialer(settings)
    org.max_concurrent_calls = ORG_CAP
    org.save(update_fields=["max_concurrent_calls"])
    campaigns = []
    for index, name in enumerate(["A", "B"]):
        campaign = make_campaign(org, skillbase, name=name, calls_per_minute=RATE, max_concurrent_calls=CAMPAIGN_CAP, failure_threshold=1)
        for number, line in zip(range(CONTACTS), cycle(["success", "busy", "no_answer", "refusal", "raise"]), strict=False):
            add_contacts(campaign, 1, first=index * 1000 + number, variables={"line": line})
        campaigns.append(started(campaign))
    ids = [c.pk for c in campaigns]
    enqueued: queue.Queue[int] = queue.Queue()
    claimed: list[int] = []  # every id any dispatcher enqueued (list.append is atomic)
    errors: list[Exception] = []

    def dispatcher(number: int, start: threading.Barrier, passes: int | None, done: threading.Event) -> None:
        start.wait()
        order = ids if number % 2 else ids[::-1]
        made = 0
        while not done.is_set() and (passes is None or made < passes):
            for campaign_id in order:
                dispatch_campaign(campaign_id, T0, enqueue=lambda call_id: (claimed.append(call_id), enqueued.put(call_id)))
            made += 1
            time.sleep(0.001)  # a breath between passes, as the dialer loop takes, so the other threads get the GIL too

    # 1. Dispatchers alone, nobody placing calls: the slots fill up to the caps and no further.
    start, done = threading.Barrier(DISPATCHERS), threading.Event()
    threads = [in_thread(dispatcher, errors, n, start, 20, done) for n in range(DISPATCHERS)]
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    live = Counter(Call.objects.live().values_list("campaign_id", flat=True))
    assert sum(live.values()) == ORG_CAP and max(live.values()) <= CAMPAIGN_CAP, live
    assert sorted(claimed) == sorted(Call.objects.values_list("id", flat=True))

    # 2. Dispatchers and workers until every contact is done; a watcher samples the live calls.
    peaks: Counter = Counter()
    start, done = threading.Barrier(DISPATCHERS + WORKERS + 1), threading.Event()

    def worker() -> None:
        start.wait()
        while not done.is_set():
            try:
                call_id = enqueued.get(timeout=0.05)
            except queue.Empty:
                continue
            place_call(call_id)

    def watcher() -> None:
        start.wait()
        while not done.is_set():
            live = Call.objects.live().aggregate(
                total=Count("id"), a=Count("id", filter=Q(campaign_id=ids[0])), b=Count("id", filter=Q(campaign_id=ids[1]))
            )
            for key, value in live.items():
                peaks[key] = max(peaks[key], value)
            if not CallTask.objects.filter(status__in=[CallTask.Status.PENDING, CallTask.Status.IN_PROGRESS]).exists():
                done.set()

    threads = [in_thread(dispatcher, errors, n, start, None, done) for n in range(DISPATCHERS)]
    threads += [in_thread(worker, errors) for _ in range(WORKERS)]
    threads.append(in_thread(watcher, errors))
    deadline = time.monotonic() + 60
    while not done.is_set() and time.monotonic() < deadline and not errors:
        time.sleep(0.05)
    done.set()
    for thread in threads:
        thread.join(timeout=10)

    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    assert peaks["a"] <= CAMPAIGN_CAP and peaks["b"] <= CAMPAIGN_CAP and peaks["total"] <= ORG_CAP, peaks
    # Every claim made exactly one call: no contact claimed twice, no attempt dialled twice.
    calls = list(Call.objects.values("id", "task_id", "attempt", "status"))
    assert sorted(claimed) == sorted(call["id"] for call in calls)
    assert len({(call["task_id"], call["attempt"]) for call in calls}) == len(calls)
    assert {call["status"] for call in calls} == {Call.Status.ENDED}
    for task in CallTask.objects.annotate(made=Count("calls")):
        assert task.status in (CallTask.Status.COMPLETED, CallTask.Status.FAILED)
        assert task.attempts == task.made == sorted(task.calls.values_list("attempt", flat=True))[-1]
        assert task.made == (1 if task.variables["line"] in ("success", "refusal") else 3)
    # The token bucket lost no update: what is left is the burst minus the calls made.
    for campaign in Campaign.objects.filter(pk__in=ids):
        assert campaign.status == Campaign.Status.COMPLETED
        assert campaign.rate_tokens == RATE / 60 * 5 - campaign.calls.count()


@pytest.mark.skipif(not POSTGRESQL, reason="Watches PostgreSQL's lock waits; SQLite has no row locks (a writer holds the whole file).")
def test_a_pause_waits_for_a_claim_in_progress_and_no_claim_follows_it(org, skillbase, settings):
    """The pause takes the campaign's row first and holds it; a dispatcher arriving then waits for it
    and, once it commits, sees the campaign paused."""
    use_scripted_dialer(settings)
    campaign = started(make_campaign(org, skillbase, contacts=5))
    errors: list[Exception] = []
    paused, release = threading.Event(), threading.Event()
    result: list[tuple[int, int]] = []

    def pause() -> None:
        with transaction.atomic():
            assert Campaign.objects.get(pk=campaign.pk).pause()
            paused.set()
            release.wait(timeout=10)

    def dispatch() -> None:
        result.append(dispatch_campaign(campaign.pk, T0, enqueue=lambda call_id: None))

    pausing = in_thread(pause, errors)
    assert paused.wait(timeout=10)
    dispatching = in_thread(dispatch, errors)
    # Until the dispatcher either finished or is waiting for the campaign's row lock.
    deadline = time.monotonic() + 10
    while dispatching.is_alive() and time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")
            if cursor.fetchone()[0]:
                break
        time.sleep(0.01)
    release.set()
    pausing.join(timeout=10)
    dispatching.join(timeout=10)
    assert errors == []
    assert result == [(0, 0)]
    assert not Call.objects.exists()
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.PAUSED


@pytest.mark.skipif(not POSTGRESQL, reason="About PostgreSQL's row-lock modes; SQLite has no row locks.")
def test_rows_being_added_for_the_organization_do_not_stall_the_dispatcher(org, skillbase, settings):
    """An import adding contacts, or a call writing its log, takes FOR KEY SHARE locks on the
    organization's and the campaign's rows. The dispatcher's locks (FOR NO KEY UPDATE) let those be; a
    FOR UPDATE would skip the organization (no calls while such a write is open) or wait for it, and
    deadlock with a write that holds the campaign's key lock and then needs the organization's."""
    use_scripted_dialer(settings)
    campaign = started(make_campaign(org, skillbase, contacts=3))
    errors: list[Exception] = []
    adding, release = threading.Event(), threading.Event()

    def import_contacts() -> None:
        with transaction.atomic():
            # Django's foreign keys are checked (and their key locks taken) at commit; checking them at
            # once holds those locks open, as every such write holds them for the instant of its commit.
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            add_contacts(campaign, 2, first=100)
            DoNotCallEntry.objects.create(organization=org, phone="+79990000000")
            adding.set()
            release.wait(timeout=10)

    importing = in_thread(import_contacts, errors)
    assert adding.wait(timeout=10)
    try:
        started_at = time.monotonic()
        placed = dispatch_campaign(campaign.pk, T0, enqueue=lambda call_id: None)
        waited = time.monotonic() - started_at
    finally:
        release.set()
        importing.join(timeout=10)
    assert errors == []
    assert placed == (3, 0) and waited < 5
