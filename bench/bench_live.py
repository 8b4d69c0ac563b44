"""Live call events: latency from an event's commit to the WebSocket clients watching it.

    .venv/bin/python bench/bench_live.py [--clients 200] [--events 600] [--rate 20] [--stream campaign]

PostgreSQL (``--database-url``) and the Redis channel layer (``--redis-url``; ``--polling`` for none:
the in-memory layer, where watchers read the database), production settings.
``--servers`` daphne processes serve ``newvoice.asgi``; ``--clients`` WebSocket clients (aiohttp, in
``--client-processes`` processes of their own) log in with a session cookie and watch one running
campaign: all of them its campaign stream (``--stream campaign``: every event goes to every client)
or each one call's stream (``--stream call``). The bench then writes ``--events`` events into
``--calls`` live calls at ``--rate`` events per second the way the agent does (``append_many`` in a
worker thread, from an event loop), and records when each one committed (a commit hook registered
ahead of the one that publishes). Each client records when each event arrived, before decoding it.
Latency = arrival - commit, on one machine's clock. Every client must get every event of its stream
exactly once, in order; the bench fails otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, ensure_database, free_port, setup_django, wait_for_port

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/nv_bench_live"
DEFAULT_REDIS = "redis://127.0.0.1:6379/7"


def env_for(url: str, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "DEBUG": "0",
        "SECURE_TLS": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-" + "x" * 50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "newvoice.settings",
    }


def prepare(calls: int) -> tuple[int, list, str]:
    """A running campaign with ``calls`` calls in progress, and a logged-in operator's session cookie."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from campaigns.models import Call, CallTask, Campaign
    from skillbases.models import Skillbase
    from tenancy.models import Membership, Organization, Role

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Organization._meta.db_table}, auth_user, django_session CASCADE")
    org = Organization.objects.create(name="Bench", slug="bench")
    user = get_user_model().objects.create_user("watcher", password="bench-only", is_staff=True)
    Membership.objects.create(organization=org, user=user, role=Role.VIEWER)
    raw = json.loads((ROOT / "newvoice" / "demo" / "salon_ru.json").read_text(encoding="utf-8"))
    skillbase = Skillbase(organization=org, name="Salon", **{k: raw[k] for k in ("context", "flow", "voice", "llm")})
    skillbase.save()
    campaign = Campaign.objects.create(organization=org, name="Bench", skillbase=skillbase, status=Campaign.Status.RUNNING)
    live = []
    for n in range(calls):
        task = CallTask.objects.create(
            organization=org, campaign=campaign, phone=f"+7912{n:07d}", name="Анна", status=CallTask.Status.IN_PROGRESS
        )
        live.append(
            Call.objects.create(
                organization=org,
                campaign=campaign,
                task=task,
                attempt=1,
                phone=task.phone,
                dialer="simulator",
                skillbase_version=skillbase.current_version,
                status=Call.Status.IN_PROGRESS,
            )  # fmt: skip
        )
    client = Client()
    client.force_login(user)
    return campaign.pk, live, client.cookies["sessionid"].value


# The clients: plain asyncio + aiohttp, no Django, in processes of their own.


def watch(urls: list[str], cookie: str, ready, stop, results) -> None:
    asyncio.run(_watch(urls, cookie, ready, stop, results))


async def _watch(urls, cookie, ready, stop, results) -> None:
    import aiohttp

    records: list[list] = [[] for _ in urls]
    connected = asyncio.Event()
    count = [0]

    async def client(session, url, mine):
        origin = url.replace("ws://", "http://").split("/api/")[0]
        async with session.ws_connect(url, headers={"Cookie": f"sessionid={cookie}", "Origin": origin}, max_msg_size=0) as ws:
            snapshot = json.loads((await ws.receive()).data)
            assert snapshot["type"] == "snapshot", snapshot
            count[0] += 1
            if count[0] == len(urls):
                connected.set()
            async for message in ws:
                arrived = time.time()
                data = json.loads(message.data)
                if data["type"] == "event":
                    mine.append((data["id"], data["call"], data["seq"], arrived))

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(client(session, url, records[i])) for i, url in enumerate(urls)]
        waiter = asyncio.create_task(connected.wait())
        await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        failed = [task for task in tasks if task.done()]
        if failed:  # a client could not connect or lost its socket before the start
            ready.put(f"a client failed: {failed[0].exception()!r}")
            return
        ready.put(len(urls))
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    results.put(records)


# The writer: the agent's way, append_many in a worker thread from an event loop.


async def write(calls: list, events: int, rate: float) -> dict[int, tuple[float, int]]:
    from asgiref.sync import sync_to_async
    from django.db import transaction

    from campaigns.models import CallLog

    committed: dict[int, tuple[float, int]] = {}  # event id: (commit time, call id)

    def append(call, n: int) -> None:
        stamp: list[float] = []
        with transaction.atomic():
            transaction.on_commit(lambda: stamp.append(time.time()))  # runs before publish's hook
            rows = CallLog.objects.append_many(call, [("transcript", "user" if n % 2 else "assistant", f"line {n}", {})])
        committed[rows[0].pk] = (stamp[0], call.pk)

    began = time.perf_counter()
    for n in range(events):
        await sync_to_async(append)(calls[n % len(calls)], n)
        delay = began + (n + 1) / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    return committed


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(args) -> dict:
    campaign_id, calls, cookie = prepare(args.calls)
    env = env_for(args.database_url, args.redis_url)
    ports = [free_port() for _ in range(args.servers)]
    daphne = [
        subprocess.Popen(
            [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port), "newvoice.asgi:application"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for port in ports
    ]
    context = multiprocessing.get_context("spawn")
    ready, results, stop = context.Queue(), context.Queue(), context.Event()
    watchers = []
    try:
        for port in ports:
            wait_for_port(port)
        paths = [
            f"/api/analytics/ws/campaigns/{campaign_id}" if args.stream == "campaign" else f"/api/analytics/ws/calls/{call.pk}"
            for call in (calls[i % len(calls)] for i in range(args.clients))
        ]
        urls = [f"ws://127.0.0.1:{ports[i % len(ports)]}{path}" for i, path in enumerate(paths)]
        shares = [urls[i :: args.client_processes] for i in range(args.client_processes)]
        watchers = [context.Process(target=watch, args=(share, cookie, ready, stop, results)) for share in shares if share]
        for process in watchers:
            process.start()
        connected = [ready.get(timeout=120) for _ in watchers]
        if sum(n for n in connected if isinstance(n, int)) != args.clients:
            raise RuntimeError(f"clients did not all connect: {connected}")
        time.sleep(1)  # let the first counters and checks pass
        cpu_before = [cpu_seconds(process.pid) for process in daphne], [cpu_seconds(process.pid) for process in watchers]
        began = time.perf_counter()
        committed = asyncio.run(write(calls, args.events, args.rate))
        time.sleep(args.drain)
        elapsed = time.perf_counter() - began
        server_cpu = (sum(cpu_seconds(process.pid) for process in daphne) - sum(cpu_before[0])) / elapsed
        client_cpu = (sum(cpu_seconds(process.pid) for process in watchers) - sum(cpu_before[1])) / elapsed
        stop.set()
        records = [client for _ in watchers for client in results.get(timeout=120)]
    finally:
        stop.set()
        for process in watchers:
            process.join(timeout=10)
        for process in daphne:
            process.send_signal(signal.SIGINT)
        for process in daphne:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    return {**summarise(args, calls, committed, records), "server_cpu": server_cpu, "client_cpu": client_cpu}


def summarise(args, calls, committed: dict[int, tuple[float, int]], records: list[list]) -> dict:
    latencies, problems = [], []
    for i, got in enumerate(records):
        ids = [event_id for event_id, *_ in got if event_id in committed]
        mine = calls[i % len(calls)].pk
        wanted = sorted(pk for pk, (_, call) in committed.items() if args.stream == "campaign" or call == mine)
        if sorted(ids) != wanted:
            problems.append(f"client {i}: {len(ids)} events, {len(set(ids))} distinct, {len(wanted)} wanted")
        last_seq: dict[int, int] = {}
        for event_id, call, seq, arrived in got:
            if seq <= last_seq.get(call, 0):
                problems.append(f"client {i}: call {call} seq {seq} after {last_seq[call]}")
            last_seq[call] = seq
            if event_id in committed:
                latencies.append((arrived - committed[event_id][0]) * 1000)
    return {
        "deliveries": len(latencies),
        "p50": percentile(latencies, 0.50),
        "p90": percentile(latencies, 0.90),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies),
        "problems": problems,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--events", type=int, default=600)
    parser.add_argument("--rate", type=float, default=20, help="events per second")
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--stream", choices=["campaign", "call"], default="campaign")
    parser.add_argument("--servers", type=int, default=1, help="daphne processes")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--drain", type=float, default=3, help="seconds to wait for the last events")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    parser.add_argument("--polling", action="store_true", help="no shared layer: the in-memory layer, watchers poll the database")
    args = parser.parse_args()
    if args.polling:
        args.redis_url = ""
    ensure_database(args.database_url)
    setup_django(**env_for(args.database_url, args.redis_url))
    result = run(args)
    print(
        f"{args.clients} clients on the {args.stream} stream, {args.servers} daphne, {'polling' if args.polling else 'Redis'}, "
        f"{args.events} events at {args.rate:g}/s "
        f"into {args.calls} calls: {result['deliveries']} deliveries; commit -> client p50 {result['p50']:.1f} ms, "
        f"p90 {result['p90']:.1f} ms, p99 {result['p99']:.1f} ms, max {result['max']:.1f} ms; "
        f"CPU: daphne {result['server_cpu']:.0%} of a core, clients {result['client_cpu']:.0%}"
    )
    if result["problems"]:
        print("\n".join(result["problems"][:20]))
        sys.exit(1)


if __name__ == "__main__":
    main()
