"""The dispatcher on PostgreSQL: claims per second with 1 and 4 dispatchers, and rate accuracy.

    .venv/bin/python bench/bench_dispatch.py [--tasks 100000] [--rate-seconds 120]

- claims: one running campaign with ``--tasks`` due contacts and no pacing or concurrency limit in
  the way; dispatcher processes call ``dispatch_campaign`` until nothing is due. Reported: claims
  per second for 1 and for 4 processes, and the checks that no contact was claimed twice.
- rate: a campaign at 600 calls per minute, a pass every 0.25 s for ``--rate-seconds``; calls
  created against the configured rate.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import time

from common import ROOT, ensure_database, setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/nv_bench_dispatch"


def prepare(tasks: int, calls_per_minute: int) -> int:
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from campaigns.models import CallTask, Campaign
    from skillbases.models import Skillbase
    from tenancy.models import Organization

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Organization._meta.db_table} CASCADE")
    org = Organization.objects.create(name="Bench", slug="bench", max_concurrent_calls=10**7)
    skillbase = Skillbase(organization=org, name="Bench", **json.loads((ROOT / "bench" / "skillbase.json").read_text()))
    skillbase.save()
    now = timezone.now()
    campaign = Campaign.objects.create(
        organization=org, name="Bench", skillbase=skillbase, status=Campaign.Status.RUNNING, dialer="simulator",
        calls_per_minute=calls_per_minute, max_concurrent_calls=10**7, calling_days=[1, 2, 3, 4, 5, 6, 7],
        calling_window_start=dt.time(0, 0), calling_window_end=dt.time(23, 59, 59), default_timezone="UTC",
        rate_updated_at=now,
    )  # fmt: skip
    names = (
        "organization campaign phone other_phones dial_index name variables timezones status outcome attempts next_attempt_at "
        "result created_at updated_at"
    )
    fields = [CallTask._meta.get_field(n) for n in names.split()]
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {CallTask._meta.db_table} ({', '.join(f.column for f in fields)}) FROM STDIN") as copy,
    ):
        for i in range(tasks):
            copy.write_row((org.pk, campaign.pk, f"+7912{i:07d}", "[]", 0, "", "{}", '["UTC"]', "pending", "", 0, now, "{}", now, now))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return campaign.pk


def _claim_worker(url: str, campaign_id: int, start, results) -> None:
    setup_django(url)
    from django.utils import timezone

    from campaigns.dispatch import dispatch_campaign
    from campaigns.models import CallTask, Campaign

    start.wait()
    claimed, idle = 0, 0
    while idle < 50:
        Campaign.objects.filter(pk=campaign_id).update(rate_tokens=10**7)  # no pacing in the way
        placed, _rescheduled = dispatch_campaign(campaign_id, timezone.now(), enqueue=lambda _id: None)
        claimed += placed
        if placed:
            idle = 0
        elif not CallTask.objects.filter(campaign_id=campaign_id, status="pending").exists():
            break
        else:
            idle += 1  # another dispatcher held the organization's lock
            time.sleep(0.001)
    results.put(claimed)


def bench_claims(url: str, campaign_id: int, processes: int) -> dict:
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    workers = [context.Process(target=_claim_worker, args=(url, campaign_id, start, results)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    time.sleep(3)  # let every process import Django before the clock starts
    began = time.perf_counter()
    start.set()
    claimed = sum(results.get() for _ in workers)
    seconds = time.perf_counter() - began
    for worker in workers:
        worker.join()
    return {"claimed": claimed, "seconds": seconds, "per_second": claimed / seconds}


def check_claims(campaign_id: int) -> dict:
    from django.db.models import Count

    from campaigns.models import Call, CallTask

    tasks_called_twice = CallTask.objects.filter(campaign_id=campaign_id).annotate(n=Count("calls")).filter(n__gt=1).count()
    return {
        "calls": Call.objects.filter(campaign_id=campaign_id).count(),
        "tasks_in_progress": CallTask.objects.filter(campaign_id=campaign_id, status="in_progress").count(),
        "tasks_called_twice": tasks_called_twice,
        "tasks_left_pending": CallTask.objects.filter(campaign_id=campaign_id, status="pending").count(),
    }


def reset(campaign_id: int) -> None:
    from campaigns.models import Call, CallTask

    Call.objects.filter(campaign_id=campaign_id).delete()
    CallTask.objects.filter(campaign_id=campaign_id).update(status="pending", attempts=0)


def bench_rate(seconds: float) -> dict:
    from django.utils import timezone

    from campaigns.dispatch import tick
    from campaigns.models import Call

    campaign_id = prepare(int(600 / 60 * seconds * 1.5) + 100, calls_per_minute=600)
    began = time.monotonic()
    created = 0
    while time.monotonic() - began < seconds:
        report = tick(timezone.now(), enqueue=lambda _id: None)
        created += report.placed.get(campaign_id, 0)
        time.sleep(0.25)
    elapsed = time.monotonic() - began
    expected = 600 / 60 * elapsed
    assert Call.objects.filter(campaign_id=campaign_id).count() == created
    return {"seconds": elapsed, "created": created, "expected": expected, "error": (created - expected) / expected}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--rate-seconds", type=float, default=120)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()
    ensure_database(args.database_url)
    setup_django(args.database_url)
    campaign_id = prepare(args.tasks, calls_per_minute=10**6)
    one = bench_claims(args.database_url, campaign_id, 1)
    one_check = check_claims(campaign_id)
    reset(campaign_id)
    four = bench_claims(args.database_url, campaign_id, 4)
    four_check = check_claims(campaign_id)
    print(f"{args.tasks} due contacts, PostgreSQL")
    print(f"1 dispatcher:  {one['claimed']} claims in {one['seconds']:.2f} s = {one['per_second']:,.0f} claims/s   {one_check}")
    print(f"4 dispatchers: {four['claimed']} claims in {four['seconds']:.2f} s = {four['per_second']:,.0f} claims/s   {four_check}")
    print(f"ratio 4 / 1: {four['per_second'] / one['per_second']:.2f}")
    rate = bench_rate(args.rate_seconds)
    print(
        f"rate: {rate['created']} calls in {rate['seconds']:.1f} s at 600/min; expected {rate['expected']:.0f}; "
        f"error {rate['error']:+.2%} (target within ±2%)"
    )


if __name__ == "__main__":
    main()
