"""The REST API under concurrent load: a real server on loopback, a real token, ``wrk`` driving it.

    .venv/bin/python bench/bench_api.py [--calls 1000000] [--seconds 15] [--concurrency 16]

Data: ``bench_metrics.prepare`` (``--calls`` ended calls, one task each, across 10 campaigns and
90 days, with their metrics, funnel rows and daily figures) in its own database. The server is the
one production runs, ``daphne newvoice.asgi:application``, as a subprocess on 127.0.0.1 with DEBUG
off; every request carries an API token (``Authorization: Token …``). Each endpoint is loaded for
``--seconds`` with 1 connection (the baseline) and with ``--concurrency`` connections by ``wrk``
(Debian package ``wrk``: ``apt-get install wrk``). Reported per endpoint and level: requests/s,
p50 and p99 latency, responses that were not 2xx (redirects count as failures) and the ratios
against the 1-connection figures of the same run.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench_metrics import prepare
from common import ROOT, ensure_database, free_port, setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/nv_bench_api"
SERVER_ENV = {"ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0"}


def endpoints(campaign: int) -> dict[str, str]:
    return {
        "tasks (page 1)": "/api/tasks",
        "tasks ?campaign=&status=": f"/api/tasks?campaign={campaign}&status=completed",
        "calls (page 1)": "/api/analytics/calls",
        "calls ?outcome=success": "/api/analytics/calls?outcome=success",
        "metrics (all calls)": "/api/analytics/metrics",
        "metrics ?group_by=day": "/api/analytics/metrics?group_by=day",
        "campaign stats": f"/api/campaigns/{campaign}/stats",
        "stats (all campaigns)": "/api/stats",
    }


def bench_data(calls: int) -> list[int]:
    """bench_metrics' calls, generated once per database (it takes minutes): the campaigns' ids."""
    from django.core.management import call_command

    from analytics.models import CallMetrics, DailyCallStats
    from campaigns.models import Campaign

    call_command("migrate", verbosity=0)
    if CallMetrics.objects.count() == calls and DailyCallStats.objects.exists():
        return list(Campaign.objects.filter(organization__slug="bench").order_by("pk").values_list("pk", flat=True))
    return prepare(calls)[1]


def issue_token() -> str:
    from django.contrib.auth import get_user_model

    from tenancy.models import ApiToken

    user = get_user_model().objects.get(username="bench")
    ApiToken.objects.filter(user=user).delete()
    _token, secret = ApiToken.objects.issue(user, name="bench-api")
    return secret


def start_server(url: str, port: int, log, *, conn_max_age: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "0", "CONN_MAX_AGE": str(conn_max_age), **SERVER_ENV}
    daphne = ROOT / ".venv" / "bin" / "daphne"
    command = [str(daphne) if daphne.exists() else "daphne", "-b", "127.0.0.1", "-p", str(port), "newvoice.asgi:application"]
    # stdout carries daphne's access log, as in production; the load tool does not need it.
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2):
                return server
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.3)
    server.kill()
    raise SystemExit(f"daphne did not start; its log: {log.name}")


def check(base: str, path: str, secret: str) -> int:
    """One request before the load: the endpoint answers 200 with the token (not a redirect)."""
    request = urllib.request.Request(base + path, headers={"Authorization": f"Token {secret}"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            assert response.status == 200 and response.url == base + path, (response.status, response.url)
            response.read()
    except urllib.error.HTTPError as error:
        raise SystemExit(f"GET {path} answered {error.code} before the load; the server's log says why") from error
    return round((time.perf_counter() - started) * 1000)


# Every response that is not a 2xx counts (wrk's own count leaves out 3xx: a redirect to the sign-in
# page would pass); per-thread counters are summed in done(), which prints one line to parse.
WRK_SCRIPT = """
wrk.headers["Authorization"] = "Token " .. os.getenv("BENCH_API_TOKEN")
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) failed = 0 end
function response(status, headers, body) if status < 200 or status > 299 then failed = failed + 1 end end
function done(summary, latency, requests)
    local failed = 0
    for _, thread in ipairs(threads) do failed = failed + thread:get("failed") end
    local e = summary.errors
    io.write(string.format("RESULT %d %d %d %d %d\\n", summary.requests, summary.duration, latency:percentile(50),
        latency:percentile(99), failed + e.connect + e.read + e.write + e.timeout))
end
"""


def load(base: str, path: str, secret: str, script: str, *, concurrency: int, seconds: int) -> dict:
    command = ["wrk", "-t", str(min(concurrency, 2)), "-c", str(concurrency), "-d", f"{seconds}s", "--timeout", "120s"]
    command += ["-s", script, base + path]
    env = {**os.environ, "BENCH_API_TOKEN": secret}
    output = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout
    requests, micros, p50, p99, failed = map(int, re.search(r"^RESULT (.+)$", output, re.M).group(1).split())
    elapsed = micros / 1e6
    return {
        "requests": requests,
        "seconds": elapsed,
        "per_second": requests / elapsed,
        "p50": p50 / 1e3,
        "p99": p99 / 1e3,
        "failed": failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=0,
        help="the server's CONN_MAX_AGE (default 0, as Django advises under ASGI; 60, the settings' default, runs "
        "PostgreSQL out of connections under load: see bench/README.md)",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("This benchmark drives the server with wrk (Debian package wrk), which is not installed: apt-get install wrk")
    ensure_database(args.url)
    setup_django(args.url, **SERVER_ENV)

    from analytics.models import CallMetrics
    from campaigns.models import CallTask

    started = time.perf_counter()
    campaigns = bench_data(args.calls)
    tasks, calls = CallTask.objects.count(), CallMetrics.objects.count()
    print(f"data: {tasks:,} tasks, {calls:,} ended calls with metrics, ready in {time.perf_counter() - started:.0f} s")
    secret = issue_token()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    script = Path(tempfile.mkdtemp(prefix="bench-api-")) / "count.lua"
    script.write_text(WRK_SCRIPT)
    with open(script.with_name("daphne.log"), "w") as log:
        server = start_server(args.url, port, log, conn_max_age=args.conn_max_age)
        try:
            print(f"daphne on {base}, DEBUG off, CONN_MAX_AGE={args.conn_max_age}")
            print(f"wrk, {args.seconds} s per run, 1 and {args.concurrency} connections")
            print(f"{'endpoint':<26} {'first ms':>8} {'conc':>4} {'seconds':>7} {'requests':>8} {'req/s':>7} {'p50 ms':>8} ", end="")
            print(f"{'p99 ms':>8} {'non-2xx':>7} {'req/s ×':>7} {'p50 ×':>6}")
            for name, path in endpoints(campaigns[3]).items():
                first = check(base, path, secret)
                one = load(base, path, secret, str(script), concurrency=1, seconds=args.seconds)
                # wrk drops the requests still running when time is up: a slow endpoint under load
                # gets the time to finish each connection's requests a few times over.
                seconds = min(max(args.seconds, math.ceil(2 * one["p50"] / 1000 * args.concurrency)), 90)
                many = load(base, path, secret, str(script), concurrency=args.concurrency, seconds=seconds)
                for level, row in ((1, one), (args.concurrency, many)):
                    label, first_ms = (name, str(first)) if level == 1 else ("", "")
                    print(
                        f"{label:<26} {first_ms:>8} {level:>4} {row['seconds']:>7.1f} {row['requests']:>8,} {row['per_second']:>7.1f} "
                        f"{row['p50']:>8.1f} {row['p99']:>8.1f} {row['failed']:>7} "
                        f"{row['per_second'] / one['per_second']:>7.2f} {row['p50'] / one['p50']:>6.2f}",
                        flush=True,
                    )
        except SystemExit:
            print(f"daphne's log: {log.name}")
            raise
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()  # its leftover database connections go with it
    print(f"daphne's log: {log.name}")


if __name__ == "__main__":
    main()
