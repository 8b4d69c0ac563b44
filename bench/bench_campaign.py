"""A simulated campaign end to end with real processes: calls completed per second.

    .venv/bin/python bench/bench_campaign.py [--contacts 10000] [--workers 2 4]

PostgreSQL (``--database-url``). The demo salon skillbase, ``--contacts`` contacts with the
simulator's default persona mix, speed 0 (no simulated waiting). For each worker count it starts
``manage.py qcluster`` with that many workers and one ``manage.py dialer``, starts the campaign and
waits for it to complete: every call placed through django-q2, talked through the production agent
in text mode, written to the database. Retries and callbacks are left out: they wait in real time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from common import ROOT, ensure_database, salon_campaign, setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/nv_bench_campaign"


def env_for(url: str, workers: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-" + "x" * 50),
        "Q_WORKERS": str(workers),
        "Q_POLL": "0.05",
        "NEWVOICE_SIMULATOR_SPEED": "0",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "newvoice.settings",
    }


def prepare(contacts: int) -> int:
    from django.core.management import call_command
    from django.db import connection

    from tenancy.models import Organization

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Organization._meta.db_table}, django_q_ormq, django_q_task CASCADE")
    org = Organization.objects.create(name="Bench", slug="bench", max_concurrent_calls=10**6)
    # Callbacks and retries are scheduled minutes to hours ahead in real time: the campaign would not
    # end, so the mix is everyone else (the engine's retry paths have their own tests).
    campaign = salon_campaign(org, "Bench", contacts, max_attempts=1, retry_policy={})
    return campaign.pk


def run(url: str, contacts: int, workers: int) -> dict:
    from django.db.models import Count

    from campaigns.models import Call, CallLog, Campaign

    campaign_id = prepare(contacts)
    manage = [sys.executable, str(ROOT / "manage.py")]
    env = env_for(url, workers)
    processes = [
        subprocess.Popen([*manage, "qcluster"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([*manage, "dialer", "--interval", "0.2"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL),
    ]
    try:
        time.sleep(4)  # processes up
        campaign = Campaign.objects.get(pk=campaign_id)
        problems = campaign.start()
        assert not problems, problems
        began = time.perf_counter()
        while Campaign.objects.get(pk=campaign_id).status == Campaign.Status.RUNNING:
            time.sleep(0.5)
            if time.perf_counter() - began > 3600:
                raise TimeoutError("the campaign did not finish within an hour")
        seconds = time.perf_counter() - began
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=8)
            except subprocess.TimeoutExpired:
                process.kill()
    calls = Call.objects.filter(campaign_id=campaign_id)
    outcomes = dict(calls.values_list("outcome").annotate(n=Count("id")).values_list("outcome", "n"))
    return {
        "workers": workers, "calls": calls.count(), "seconds": seconds, "per_second": calls.count() / seconds,
        "events": CallLog.objects.filter(campaign_id=campaign_id).count(), "outcomes": outcomes,
        "live_left": calls.filter(status__in=["queued", "dialing", "in_progress"]).count(),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()
    ensure_database(args.database_url)
    setup_django(**env_for(args.database_url, 1))
    results = [run(args.database_url, args.contacts, workers) for workers in args.workers]
    base = results[0]["per_second"]
    for r in results:
        print(
            f"{r['workers']} q2 workers: {r['calls']} calls for {args.contacts} contacts in {r['seconds']:.1f} s = "
            f"{r['per_second']:.1f} calls/s ({r['per_second'] / base:.2f}x of {results[0]['workers']} workers); "
            f"{r['events']} events; live left {r['live_left']}; outcomes {r['outcomes']}"
        )


if __name__ == "__main__":
    main()
