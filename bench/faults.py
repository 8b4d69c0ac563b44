"""Fault suite: a simulated campaign with real processes while its workers, dialer, database and
channel layer are killed and restarted; then the promises of "A call's life" are checked.

    .venv/bin/python bench/faults.py [--contacts 1000] [--rounds 2] [--workers 12] [--speed 0.05]

By default it starts a private PostgreSQL cluster (initdb into a temporary folder) and a private
redis-server, each on a free port, so restarting them disturbs nobody; ``--database-url`` and
``--redis-url`` run on existing servers instead, and then only process faults are allowed (CI's
``tests/test_faults.py`` does that on the shared servers, with its own database and Redis index).

Processes: ``manage.py qcluster``, ``manage.py dispatcher`` and daphne serving ``newvoice.asgi``, with a
WebSocket client (a staff session) watching the campaign's live stream. ``--faults`` are injected
in turn, ``--rounds`` times, ``--gap`` seconds apart:

* ``worker``: ``kill -9`` of a q2 worker holding a call in progress (its pid is the call's lease
  owner); the cluster starts a new worker, the reaper ends the call as lost when its lease runs out;
* ``dialer``: ``kill -9`` of the dialer while calls are live; restarted a second later, as a
  supervisor would;
* ``postgres``: ``pg_ctl restart -m fast`` (every connection of every process is cut);
* ``redis``: ``redis-cli shutdown nosave``, ``--redis-down`` seconds, then a new redis-server.

Then it waits for the campaign to finish (lost calls are retried after the policy's minute) and
prints a table of faults with their recovery time (fault → the first call dialled after it ends
normally) and the checks, which must all hold: no task with two calls live at once and no attempt
dialled twice (``call_started`` written once per call), no task lost (each one terminal, or pending
with a next attempt), no call live after its lease ran out, and the live monitor's events against
the ``CallLog`` rows: during a Redis outage every event still arrives (read from the database),
and after it pushes resume. Exit status 1 when a check fails; ``--json`` writes the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import ROOT, ensure_database, free_port, salon_campaign, setup_django, wait_for_port

LEASE_SECONDS = 60  # NEWVOICE_CALL_LEASE_SECONDS as the fault suite runs it; checked after setup
PUSH_LATENCY = 1.0  # seconds: an event later than this came from a database read, not a push
ALL_FAULTS = ("worker", "dialer", "postgres", "redis")


# Private servers


def _as_postgres(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        raise SystemExit(f"No PostgreSQL {name} under /usr/lib/postgresql/*/bin")
    return str(found[-1])


class PrivatePostgres:
    def __init__(self):
        self.port = port = free_port()  # not a fixed one: other runs may hold it
        self.dir = tempfile.mkdtemp(prefix="nv-faults-pg-")
        self.data = f"{self.dir}/data"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(_as_postgres([_pg_bin("initdb"), "-D", self.data, "-A", "trust", "-U", "postgres"]), check=True, capture_output=True)
        with open(f"{self.data}/postgresql.auto.conf", "a") as conf:
            conf.write(f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\nmax_connections = 200\n")
            conf.write("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")  # a throwaway cluster
        self._ctl("start")

    url = property(lambda self: f"postgres://postgres@127.0.0.1:{self.port}/nv_faults")

    def _ctl(self, action: str, *extra: str) -> None:
        command = [_pg_bin("pg_ctl"), "-D", self.data, "-l", f"{self.dir}/log", "-w", "-t", "60", *extra, action]
        subprocess.run(_as_postgres(command), check=True, capture_output=True)

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")

    def close(self) -> None:
        try:
            self._ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    def __init__(self):
        self.port, self.process = free_port(), None
        self.start()

    url = property(lambda self: f"redis://127.0.0.1:{self.port}/0")

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self) -> None:
        subprocess.run(["redis-cli", "-p", str(self.port), "shutdown", "nosave"], capture_output=True)
        self.process.wait(timeout=30)

    def close(self) -> None:
        if self.process.poll() is None:
            self.stop()


# The product's processes


def env_for(url: str, redis_url: str, *, workers: int, speed: float) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "DEBUG": "0",
        "SECURE_TLS": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-" + "x" * 50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "Q_WORKERS": str(workers),
        "Q_POLL": "0.1",
        "NEWVOICE_SIMULATOR_SPEED": str(speed),
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "newvoice.settings",
    }


class Processes:
    def __init__(self, env: dict[str, str], logs: Path):
        self.env, self.logs = env, logs
        self.web_port = free_port()
        manage = [sys.executable, str(ROOT / "manage.py")]
        daphne = str(Path(sys.executable).parent / "daphne")
        self.commands = {
            "qcluster": [*manage, "qcluster"],
            "dialer": [*manage, "dispatcher", "--interval", "0.5"],
            "web": [daphne, "-b", "127.0.0.1", "-p", str(self.web_port), "newvoice.asgi:application"],
        }
        self.running: dict[str, subprocess.Popen] = {}
        for name in self.commands:
            self.start(name)
        wait_for_port(self.web_port)

    def start(self, name: str) -> None:
        log = open(self.logs / f"{name}.log", "a")  # the child writes to it
        self.running[name] = subprocess.Popen(self.commands[name], env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    def kill(self, name: str) -> None:
        os.kill(self.running[name].pid, signal.SIGKILL)
        self.running[name].wait()

    def q2_workers(self) -> set[int]:
        """Every process under the cluster (its sentinel, pusher, monitor and workers)."""
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])  # after "pid (name) state"
            except OSError:
                continue
            children.setdefault(parent, []).append(int(stat.parent.name))
        found, todo = set(), [self.running["qcluster"].pid]
        while todo:
            for child in children.get(todo.pop(), []):
                found.add(child)
                todo.append(child)
        return found

    def close(self) -> None:
        orphans = self.q2_workers()  # a sentinel stopped mid-restart may leave workers behind
        for process in self.running.values():
            if process.poll() is None:
                process.terminate()
        for process in self.running.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pid in orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# The live monitor: a WebSocket client in a thread of its own


class Monitor:
    def __init__(self, url: str, cookie: str):
        self.url, self.cookie = url, cookie
        self.events: dict[int, float] = {}  # event id → when it arrived (the first time)
        self.from_snapshots: set[int] = set()  # events that came in a (re)connection's snapshot, not the stream
        self.repeats = 0
        self.drops: list[float] = []  # when the socket closed or could not connect
        self.connected = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.thread.start()

    async def _run(self) -> None:
        import aiohttp

        origin = self.url.replace("ws://", "http://").split("/api/")[0]
        headers = {"Cookie": f"sessionid={self.cookie}", "Origin": origin}
        async with aiohttp.ClientSession() as session:
            while not self.stopping:
                after = f"?after={max(self.events)}" if self.events else ""
                try:
                    async with session.ws_connect(self.url + after, headers=headers, max_msg_size=0, heartbeat=None) as ws:
                        async for message in ws:
                            if message.type != aiohttp.WSMsgType.TEXT:
                                break
                            self._take(json.loads(message.data), time.time())
                            if self.stopping:
                                return
                except (aiohttp.ClientError, OSError):
                    pass
                self.drops.append(time.time())
                await asyncio.sleep(0.5)

    def _take(self, message: dict, arrived: float) -> None:
        if message["type"] == "snapshot":
            self.connected.set()
            events = [event for call in message.get("calls", []) for event in call["events"]]
        else:
            events = [message] if message["type"] == "event" else []
        for event in events:
            if event["id"] in self.events:
                self.repeats += 1
            else:
                self.events[event["id"]] = arrived
                if message["type"] == "snapshot":
                    self.from_snapshots.add(event["id"])

    def stop(self) -> None:
        self.stopping, self.stopped_at = True, time.time()


# The campaign


def prepare(contacts: int) -> tuple[int, str]:
    """A draft simulated campaign of ``contacts`` contacts, and a staff session cookie of its organization."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from tenancy.models import Membership, Organization, Role

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Organization._meta.db_table}, auth_user, django_session, django_q_ormq, django_q_task CASCADE")
    org = Organization.objects.create(name="Faults", slug="faults", max_concurrent_calls=10**6)
    user = get_user_model().objects.create_user("watcher", password="bench-only", is_staff=True)
    Membership.objects.create(organization=org, user=user, role=Role.VIEWER)
    campaign = salon_campaign(
        org, "Faults", contacts, max_attempts=3,
        # Lost calls (a killed worker, a database restart mid-call) come back after the shortest delay;
        # callbacks and the other retries would wait hours, so the mix leaves them out.
        retry_policy={"lost": {"retry": True, "delay_minutes": 1}, "failed": {"retry": True, "delay_minutes": 1}},
        failure_threshold=1.0,  # a database restart fails a burst of calls: the safety rail must not pause the run
    )  # fmt: skip
    client = Client()
    client.force_login(user)
    return campaign.pk, client.cookies["sessionid"].value


def db_retry(read, attempts: int = 60):
    """``read()``, retried while the database is being restarted."""
    from django.db import OperationalError, close_old_connections, connection

    for _ in range(attempts):
        try:
            return read()
        except OperationalError:
            connection.close()
            close_old_connections()
            time.sleep(0.5)
    return read()


@dataclass
class Fault:
    kind: str
    at: float  # epoch seconds when injected
    back: float  # epoch seconds when the faulty part was back
    detail: str = ""
    calls: list[int] = field(default_factory=list)  # calls in progress on a killed worker


class Suite:
    def __init__(self, args, processes: Processes, campaign_id: int, postgres, redis):
        self.args, self.processes, self.campaign_id = args, processes, campaign_id
        self.postgres, self.redis = postgres, redis
        self.faults: list[Fault] = []

    def inject(self, kind: str) -> Fault | None:
        return getattr(self, f"_{kind}")()

    def _worker(self) -> Fault | None:
        from campaigns.models import Call

        pids = self.processes.q2_workers()
        for _ in range(120):  # wait for a worker to be mid-call (up to 30 s on a busy machine)
            owners = db_retry(
                lambda: list(
                    Call.objects.filter(campaign_id=self.campaign_id, status=Call.Status.IN_PROGRESS).values_list("lease_owner", "id")
                )
            )
            held = {}
            for owner, call_id in owners:
                pid = int(owner.rsplit(":", 1)[1]) if ":" in owner else 0
                if pid in pids:
                    held.setdefault(pid, []).append(call_id)
            if held:
                pid, calls = next(iter(held.items()))
                at = time.time()
                os.kill(pid, signal.SIGKILL)
                return Fault("worker", at, at, f"pid {pid}", calls)
            time.sleep(0.25)
        return None

    def _dialer(self) -> Fault:
        at = time.time()
        self.processes.kill("dialer")
        time.sleep(1)
        self.processes.start("dialer")
        return Fault("dialer", at, time.time())

    def _postgres(self) -> Fault:
        at = time.time()
        self.postgres.restart()
        return Fault("postgres", at, time.time())

    def _redis(self) -> Fault:
        at = time.time()
        self.redis.stop()
        time.sleep(self.args.redis_down)
        self.redis.start()
        return Fault("redis", at, time.time())


def wait_until(predicate, timeout: float, step: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db_retry(predicate):
            return True
        time.sleep(step)
    return False


def settled(campaign_id: int) -> bool:
    """Nothing live and nothing due: the campaign is done, or waits only for retries later on."""
    from django.utils import timezone

    from campaigns.models import Call, CallTask, Campaign

    campaign = Campaign.objects.get(pk=campaign_id)
    if campaign.status != Campaign.Status.RUNNING:
        return not Call.objects.filter(campaign_id=campaign_id).live().exists()
    tasks = CallTask.objects.filter(campaign_id=campaign_id)
    return not Call.objects.filter(campaign_id=campaign_id).live().exists() and not tasks.due(timezone.now()).exists()


# The checks


def duplicate_dials(campaign_id: int) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        # Two calls of one task whose lives overlap: the later one was created before the earlier ended.
        cursor.execute(
            """SELECT count(*) FROM campaigns_call a JOIN campaigns_call b ON a.task_id = b.task_id AND a.id < b.id
               WHERE a.campaign_id = %s AND b.created_at < COALESCE(a.ended_at, now())""",
            [campaign_id],
        )
        overlapping = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM campaigns_call WHERE campaign_id = %s GROUP BY task_id, attempt HAVING count(*) > 1) d",
            [campaign_id],
        )
        same_attempt = cursor.fetchone()[0]
        # A call dialled twice would have two conversations: two call_started events.
        cursor.execute(
            """SELECT count(*) FROM (SELECT 1 FROM analytics_calllog WHERE campaign_id = %s AND kind = 'call_started'
               GROUP BY call_id HAVING count(*) > 1) d""",
            [campaign_id],
        )
        started_twice = cursor.fetchone()[0]
    return {"overlapping_live_calls": overlapping, "same_attempt_twice": same_attempt, "dialled_twice": started_twice}


def lost_tasks(campaign_id: int) -> dict:
    from django.db.models import Count

    from campaigns.models import Call, CallTask

    tasks = CallTask.objects.filter(campaign_id=campaign_id)
    terminal = [CallTask.Status.COMPLETED, CallTask.Status.FAILED, CallTask.Status.CANCELLED]
    live_tasks = Call.objects.filter(campaign_id=campaign_id).live().values("task_id")
    lost = (
        tasks.exclude(status__in=terminal)
        .exclude(status=CallTask.Status.PENDING, next_attempt_at__isnull=False)
        .exclude(status=CallTask.Status.IN_PROGRESS, pk__in=live_tasks)
    )
    by_status = dict(tasks.order_by().values_list("status").annotate(n=Count("pk")))
    return {"lost": lost.count(), "tasks": by_status}


def stuck_calls(campaign_id: int) -> int:
    from django.utils import timezone

    from campaigns.models import Call

    return Call.objects.filter(campaign_id=campaign_id).live().filter(lease_expires_at__lt=timezone.now()).count()


def monitor_phases(monitor: Monitor, campaign_id: int, outages: list[Fault]) -> dict:
    """Events the WebSocket got against the CallLog rows, before, during and after each Redis outage."""
    from campaigns.models import CallLog

    rows = list(CallLog.objects.filter(campaign_id=campaign_id).values_list("pk", "created_at"))
    phases: dict[str, dict] = {}

    def phase(created: float) -> str:
        for n, fault in enumerate(outages, 1):
            if fault.at <= created <= fault.back:
                return f"during {n}"
            if fault.back < created <= fault.back + 30:
                return f"after {n}"
        return "outside" if outages else "all"

    for pk, created_at in rows:
        created = created_at.timestamp()
        figures = phases.setdefault(phase(created), {"rows": 0, "received": 0, "in_snapshots": 0, "drops": 0, "latencies": []})
        figures["rows"] += 1
        if pk in monitor.events:
            figures["received"] += 1
            figures["in_snapshots"] += pk in monitor.from_snapshots
            figures["latencies"].append(monitor.events[pk] - created)
    for dropped in monitor.drops:
        if dropped < monitor.stopped_at:
            phases.setdefault(phase(dropped), {"rows": 0, "received": 0, "in_snapshots": 0, "drops": 0, "latencies": []})["drops"] += 1
    out = {}
    for name, figures in sorted(phases.items()):
        latencies = sorted(figures.pop("latencies"))
        out[name] = {
            **figures,
            "missing": figures["rows"] - figures["received"],
            "p50_s": round(statistics.median(latencies), 3) if latencies else None,
            "p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3) if latencies else None,
        }
    return out


def recovery(faults: list[Fault], campaign_id: int) -> list[dict]:
    from campaigns.models import Call, Outcome

    out = []
    for fault in faults:
        since = dt.datetime.fromtimestamp(fault.back, dt.UTC)
        first = (
            Call.objects.filter(campaign_id=campaign_id, dial_started_at__gt=since, ended_at__isnull=False)
            .exclude(outcome__in=[Outcome.LOST, Outcome.FAILED])
            .order_by("ended_at")
            .values_list("ended_at", flat=True)
            .first()
        )
        row = {"fault": fault.kind, "detail": fault.detail, "down_s": round(fault.back - fault.at, 1)}
        row["recovery_s"] = round(first.timestamp() - fault.at, 1) if first else None
        if fault.calls:  # when the reaper ended the killed worker's calls
            ends = Call.objects.filter(pk__in=fault.calls).values_list("ended_at", "outcome")
            row["reaped_s"] = [round(end.timestamp() - fault.at, 1) if end else None for end, _ in ends]
            row["killed_calls_outcomes"] = [outcome for _, outcome in ends]
        out.append(row)
    return out


# Running it


def run(args) -> dict:
    from django.db.models import Count

    from campaigns import leases
    from campaigns.models import Call, Campaign

    assert leases.lease_seconds() == LEASE_SECONDS, "the lease changed: update LEASE_SECONDS here"
    campaign_id, cookie = prepare(args.contacts)
    logs = Path(tempfile.mkdtemp(prefix="nv-faults-logs-"))
    env = env_for(args.database_url, args.redis_url, workers=args.workers, speed=args.speed)
    processes = Processes(env, logs)
    monitor = Monitor(f"ws://127.0.0.1:{processes.web_port}/api/analytics/ws/campaigns/{campaign_id}", cookie)
    suite = Suite(args, processes, campaign_id, args.postgres, args.redis)
    began = time.time()
    try:
        if not monitor.connected.wait(60):
            raise RuntimeError(f"the live monitor did not connect; see {logs}/web.log")
        time.sleep(3)  # the cluster's workers up
        problems = Campaign.objects.get(pk=campaign_id).start()
        assert not problems, problems
        time.sleep(args.warmup)
        for _round in range(args.rounds):
            for kind in args.faults:
                fault = suite.inject(kind)
                if fault is None:
                    print(f"  {kind}: no worker was in a call to kill", flush=True)
                else:
                    suite.faults.append(fault)
                    print(f"  {time.time() - began:6.1f} s  {kind} {fault.detail}".rstrip(), flush=True)
                time.sleep(args.gap)
        last_fault = time.time()
        # Every call held by a killed worker must be ended by the reaper once its lease runs out.
        finished = wait_until(lambda: settled(campaign_id), args.timeout)
        stuck_wait = max(0.0, last_fault + LEASE_SECONDS + 5 - time.time())
        time.sleep(stuck_wait)
        if args.complete:
            finished = (
                wait_until(lambda: Campaign.objects.get(pk=campaign_id).status == Campaign.Status.COMPLETED, args.timeout) and finished
            )
        time.sleep(6)  # the monitor's last database check (every 5 s with a shared layer)
        seconds = time.time() - began
    finally:
        monitor.stop()
        processes.close()
    calls = Call.objects.filter(campaign_id=campaign_id)
    campaign = Campaign.objects.get(pk=campaign_id)
    outages = [fault for fault in suite.faults if fault.kind == "redis"]
    result = {
        "contacts": args.contacts,
        "seconds": round(seconds, 1),
        "settled": finished,
        "campaign_status": campaign.status,
        "calls": calls.count(),
        "outcomes": dict(calls.order_by().values_list("outcome").annotate(n=Count("id"))),
        "faults": recovery(suite.faults, campaign_id),
        "fault_counts": {kind: sum(f.kind == kind for f in suite.faults) for kind in args.faults},
        "duplicates": duplicate_dials(campaign_id),
        **lost_tasks(campaign_id),
        "stuck": stuck_calls(campaign_id),
        "live_left": calls.live().count(),
        "monitor": monitor_phases(monitor, campaign_id, outages),
        "monitor_repeats": monitor.repeats,
        "failed_errors": dict(
            calls.filter(outcome__in=["failed", "lost"]).values_list("error").annotate(n=Count("id")).order_by("-n")[:10]
        ),
        "logs": str(logs),
    }
    result["checks"] = verdicts(result, outages)
    return result


def verdicts(result: dict, outages: list) -> dict[str, bool]:
    checks = {
        "no duplicate dials": not any(result["duplicates"].values()),
        "no lost tasks": result["lost"] == 0,
        "no calls stuck after the lease": result["stuck"] == 0 and result["live_left"] == 0,
        "settled (nothing live, nothing due)": result["settled"],
        "monitor got every event": all(p["missing"] == 0 for p in result["monitor"].values()),
    }
    if outages:
        during = [p for name, p in result["monitor"].items() if name.startswith("during") and p["rows"]]
        after = [p for name, p in result["monitor"].items() if name.startswith("after") and p["rows"]]
        # Degraded, as DESIGN.md means it: the socket stays open and the consumer reads the database.
        checks["monitor degraded to database reads during Redis outages"] = bool(during) and all(
            p["missing"] == 0 and p["drops"] == 0 for p in during
        )
        checks["monitor back to pushes after Redis returned"] = bool(after) and all(
            p["p50_s"] is not None and p["p50_s"] < PUSH_LATENCY for p in after
        )
    return checks


def report(result: dict) -> None:
    print(f"\n{result['contacts']} contacts, {result['calls']} calls in {result['seconds']} s; campaign {result['campaign_status']}")
    print(f"outcomes {result['outcomes']}; tasks {result['tasks']}")
    print("\n| fault | # | down s | recovery s (fault → first new call ended) | killed calls reaped after s |")
    print("|---|---:|---:|---:|---|")
    for n, row in enumerate(result["faults"], 1):
        reaped = ", ".join(f"{s} ({o})" for s, o in zip(row.get("reaped_s", []), row.get("killed_calls_outcomes", []), strict=True))
        print(f"| {row['fault']} {row['detail']} | {n} | {row['down_s']} | {row['recovery_s']} | {reaped} |")
    print(f"\nfault counts: {result['fault_counts']}")
    print(f"duplicate dials: {result['duplicates']}")
    print(f"lost tasks: {result['lost']}; calls stuck after the lease: {result['stuck']}; live calls left: {result['live_left']}")
    print(
        "\n| monitor phase (by event commit time) | CallLog rows | received | missing | in a reconnect's snapshot | drops | p50 s | p95 s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, p in result["monitor"].items():
        cells = [name, p["rows"], p["received"], p["missing"], p["in_snapshots"], p["drops"], p["p50_s"], p["p95_s"]]
        print("| " + " | ".join(map(str, cells)) + " |")
    print(f"monitor repeats {result['monitor_repeats']}; failed/lost call errors {result['failed_errors']}")
    print(f"process logs in {result['logs']}\n")
    for name, ok in result["checks"].items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument("--speed", type=float, default=0.05, help="NEWVOICE_SIMULATOR_SPEED: calls of a few seconds")
    parser.add_argument("--faults", default=",".join(ALL_FAULTS), help=f"comma-separated, in order, of {', '.join(ALL_FAULTS)}")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--gap", type=float, default=15, help="seconds between faults")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of calling before the first fault")
    parser.add_argument("--redis-down", type=float, default=10)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--complete", action="store_true", help="also wait for the campaign to complete (retries come a minute later)")
    parser.add_argument("--database-url", help="an existing PostgreSQL database instead of a private cluster (no postgres faults)")
    parser.add_argument("--redis-url", help="an existing Redis instead of a private one (no redis faults)")
    parser.add_argument("--drop-database", action="store_true", help="drop --database-url's database afterwards")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    args.faults = [kind.strip() for kind in args.faults.split(",") if kind.strip()]
    if unknown := set(args.faults) - set(ALL_FAULTS):
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    if args.database_url and "postgres" in args.faults or args.redis_url and "redis" in args.faults:
        parser.error("postgres and redis faults need the private servers: leave out --database-url/--redis-url")
    args.postgres = None if args.database_url else PrivatePostgres()
    args.redis = None if args.redis_url else PrivateRedis()
    try:
        args.database_url = args.database_url or args.postgres.url
        args.redis_url = args.redis_url or args.redis.url
        ensure_database(args.database_url)
        setup_django(**env_for(args.database_url, args.redis_url, workers=args.workers, speed=args.speed))
        result = run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if args.drop_database and args.database_url:
            drop_database(args.database_url)
        if args.redis:
            args.redis.close()
        if args.postgres:
            args.postgres.close()
    report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    sys.exit(0 if all(result["checks"].values()) else 1)


def drop_database(url: str) -> None:
    import psycopg

    name, base = url.rsplit("/", 1)[1], url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
