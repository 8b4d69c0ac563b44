"""/api/analytics/metrics over a million ended calls on PostgreSQL.

    .venv/bin/python bench/bench_metrics.py [--calls 1000000] [--repeat 7]

Generates ``--calls`` ended calls (tasks, calls, CallMetrics and ~3 StepReached rows each) across
10 campaigns, 10 outcomes and 90 days (every combination present: 9,000 daily rows) with SQL
``generate_series``, then times real requests through Django's
test client (authenticated, the whole view: query parsing, the aggregate queries, serialization):
totals + funnel, grouped by day, grouped by campaign, one campaign over a week. Baseline in the
same run: the same totals computed in Python from the rows (what a report without database-side
aggregates would do), on one campaign's calls.
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import ensure_database, setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/nv_bench_metrics"
OUTCOMES = ["success", "success", "success", "refusal", "callback_requested", "voicemail", "no_answer", "busy", "opted_out", "failed"]
STEPS = ["greeting", "offer", "pick_time", "booked", "farewell"]


def prepare(calls: int) -> tuple[int, list[int]]:
    import json

    from common import ROOT
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from campaigns.models import Campaign
    from skillbases.models import Skillbase
    from tenancy.models import Membership, Organization, Role

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT (SELECT count(*) FROM analytics_callmetrics), (SELECT count(*) FROM analytics_dailycallstats)")
        found, daily = cursor.fetchone()
        if found == calls and daily > 0:
            org = Organization.objects.get(slug="bench")
            return org.pk, list(Campaign.objects.filter(organization=org).values_list("pk", flat=True))
        cursor.execute(f"TRUNCATE {Organization._meta.db_table} CASCADE")
    get_user_model().objects.filter(username="bench").delete()
    org = Organization.objects.create(name="Bench", slug="bench")
    user = get_user_model().objects.create_user("bench", password="bench-only")
    Membership.objects.create(organization=org, user=user, role=Role.VIEWER)
    skillbase = Skillbase(organization=org, name="Bench", **json.loads((ROOT / "bench" / "skillbase.json").read_text()))
    skillbase.save()
    version = skillbase.current_version
    campaigns = [Campaign.objects.create(organization=org, name=f"Campaign {i}", skillbase=skillbase).pk for i in range(10)]
    first = campaigns[0]
    outcomes = "ARRAY[" + ",".join(f"'{o}'" for o in OUTCOMES) + "]"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO campaigns_calltask (id, organization_id, campaign_id, phone, other_phones, dial_index, name, variables,
                timezones, status, outcome, attempts, next_attempt_at, result, created_at, updated_at)
            SELECT g, {org.pk}, {first} + g %% 10, '+7912' || lpad(g::text, 7, '0'), '[]', 0, '', '{{}}', '["UTC"]', 'completed',
                ({outcomes})[1 + (g / 10) %% 10], 1, now(), '{{}}', now(), now()
            FROM generate_series(1, %s) g
            """,
            [calls],
        )
        cursor.execute(
            f"""
            INSERT INTO campaigns_call (id, organization_id, campaign_id, task_id, attempt, skillbase_version_id, phone, status, outcome,
                dialer, is_simulated, persona, room_name, sip_call_id, error, collected, last_step, lease_owner, created_at, ended_at)
            SELECT g, {org.pk}, {first} + g %% 10, g, 1, {version.pk}, '+7912' || lpad(g::text, 7, '0'), 'ended',
                ({outcomes})[1 + (g / 10) %% 10], 'livekit', false, '', '', '', '', '{{}}', '', '',
                now() - ((g / 100) %% 90) * interval '1 day',
                now() - ((g / 100) %% 90) * interval '1 day'
            FROM generate_series(1, %s) g
            """,
            [calls],
        )
        cursor.execute(
            f"""
            INSERT INTO analytics_callmetrics (organization_id, call_id, campaign_id, skillbase_id, skillbase_version_id, outcome,
                is_simulated, ended_at, ring_seconds, talk_seconds, total_seconds, turns, user_words, bot_words, interruptions,
                false_interruptions, first_greeting_ms, latency_mean_ms, latency_p50_ms, latency_p95_ms, latency_max_ms,
                llm_input_tokens, llm_output_tokens, tts_characters, stt_seconds, tts_seconds, telephony_seconds,
                cost_stt, cost_llm, cost_tts, cost_telephony, cost_total, currency, price_version, is_priced, unpriced_reason,
                usage, sentiment_label, sentiment_source, qa_flags, last_step, steps_reached, collected)
            SELECT {org.pk}, g, {first} + g %% 10, {skillbase.pk}, {version.pk}, ({outcomes})[1 + (g / 10) %% 10], false,
                now() - ((g / 100) %% 90) * interval '1 day' - (g %% 86400) * interval '1 second', 5, 60, 65, 4, 20, 80, g %% 3, 0,
                500 + g %% 700, 600 + g %% 900, 550 + g %% 800, 900 + g %% 1500, 1000 + g %% 2000,
                3000, 100, 400, 24, 30, 60, 0.0012, 0, 0.0075, 0.01, 0.0187, 'USD', '2026-01-01', true, '',
                '[]', 'neutral', 'lexicon', '[]', 'booked', '[]', '{{}}'
            FROM generate_series(1, %s) g
            """,
            [calls],
        )
        cursor.execute(
            f"""
            INSERT INTO analytics_stepreached (metrics_id, organization_id, campaign_id, skillbase_version_id, step, position, ended_at)
            SELECT m.id, m.organization_id, m.campaign_id, m.skillbase_version_id, (ARRAY{STEPS!r})[s + 1], s, m.ended_at
            FROM analytics_callmetrics m CROSS JOIN generate_series(0, 4) s
            WHERE s <= m.call_id %% 5
            """,
            [],
        )
        for table in ("campaigns_calltask", "campaigns_call"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    from analytics import rollups

    started = time.perf_counter()
    rows = rollups.rebuild()
    print(f"daily figures rebuilt from the calls: {rows[0]:,} call rows, {rows[1]:,} step rows in {time.perf_counter() - started:.0f} s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return org.pk, campaigns


def timed(fn, repeat: int) -> tuple[float, float]:
    fn()  # warm
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--url", default=DEFAULT_URL)
    args = parser.parse_args()
    ensure_database(args.url)
    setup_django(args.url, ALLOWED_HOSTS="testserver", SECURE_SSL_REDIRECT="0")

    from django.contrib.auth import get_user_model
    from django.test import Client

    from analytics.call_metrics import percentile
    from analytics.models import CallMetrics

    started = time.perf_counter()
    org_id, campaigns = prepare(args.calls)
    print(f"data: {CallMetrics.objects.count():,} calls ready in {time.perf_counter() - started:.0f} s")
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench"))

    def get(params):
        def run():
            response = client.get("/api/analytics/metrics", params)
            assert response.status_code == 200, response.content[:500]
            return response

        return run

    cases = {
        "totals + funnel, all calls": {},
        "grouped by day (90 groups)": {"group_by": "day"},
        "grouped by campaign (10 groups)": {"group_by": "campaign"},
        "one campaign, one week": {"campaign": campaigns[3], "date_from": "2026-11-10", "date_to": "2026-11-16"},
    }
    body = get({})().json()
    assert body["totals"]["calls"] == args.calls, body["totals"]

    def python_baseline():
        rows = list(
            CallMetrics.objects.filter(campaign_id=campaigns[3]).values_list("outcome", "latency_p50_ms", "latency_p95_ms", "cost_total")
        )
        return len(rows), percentile([r[1] for r in rows], 0.5), percentile([r[2] for r in rows], 0.95), sum(r[3] for r in rows)

    base_p50, base_max = timed(python_baseline, args.repeat)
    one_campaign = args.calls // 10
    print(f"baseline: totals of one campaign ({one_campaign:,} calls) computed in Python: p50 {base_p50:.0f} ms")
    print(f"{'request':<36} {'p50 ms':>8} {'max ms':>8} {'vs baseline':>12}")
    for name, params in cases.items():
        p50, worst = timed(get(params), args.repeat)
        print(f"{name:<36} {p50:>8.0f} {worst:>8.0f} {base_p50 / p50:>11.1f}x")


if __name__ == "__main__":
    main()
