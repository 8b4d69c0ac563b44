"""Prometheus metrics read from the database at each scrape.

Every figure comes from a query, never from a counter kept in a process, so it is the same
whichever web process Prometheus reaches and however many dialers and task workers run. Each
query reads an index or a small table: live calls through the partial live-call index, due tasks
through the partial pending-task index, ended calls and cost from the daily figures (one row per
campaign, version, day and outcome) rather than from every call.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Count, Min, Q, Sum
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_safe
from django_q.models import OrmQ
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from analytics.models import DailyCallStats
from campaigns.models import Call, CallTask, Campaign


class DatabaseCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        yield live_calls()
        yield due_tasks(now)
        yield oldest_queued_call_age(now)
        yield from task_queue(now)
        yield from ended_calls_and_cost()
        yield campaigns()


def live_calls() -> Metric:
    family = GaugeMetricFamily("newvoice_calls_live", "Calls queued, dialing or in progress now, by status.", labels=["status"])
    counts = dict(Call.objects.live().order_by().values_list("status").annotate(n=Count("id")))
    for status in Call.LIVE_STATUSES:
        family.add_metric([status.value], counts.get(status, 0))
    return family


def due_tasks(now) -> Metric:
    # Pending tasks of running campaigns whose next attempt time has passed: the dialers' backlog
    # (tasks waiting for their contact's calling window are counted too).
    count = CallTask.objects.due(now).filter(campaign__status=Campaign.Status.RUNNING).count()
    return GaugeMetricFamily("newvoice_call_tasks_due", "Pending call tasks of running campaigns that are due now.", value=count)


def oldest_queued_call_age(now) -> Metric:
    # live() repeats the partial index's condition, so the planner can read only live calls.
    oldest = Call.objects.live().filter(status=Call.Status.QUEUED).order_by().aggregate(oldest=Min("created_at"))["oldest"]
    age = (now - oldest).total_seconds() if oldest else 0.0
    return GaugeMetricFamily(
        "newvoice_calls_queued_oldest_age_seconds", "How long the oldest queued call has waited for a task worker (0: none).", value=age
    )


def task_queue(now) -> Iterator[Metric]:
    # django-q2's ORM broker: a task whose lock time has passed waits for a worker; a later lock
    # means a worker holds it (until its retry time).
    waiting = Q(lock__lte=now)
    row = (
        OrmQ.objects.filter(key=settings.Q_CLUSTER["name"])
        .order_by()
        .aggregate(waiting=Count("id", filter=waiting), held=Count("id", filter=~waiting), oldest=Min("lock", filter=waiting))
    )
    length = GaugeMetricFamily("newvoice_task_queue_length", "Background tasks queued, waiting or held by a worker.", labels=["state"])
    length.add_metric(["waiting"], row["waiting"])
    length.add_metric(["held"], row["held"])
    yield length
    age = (now - row["oldest"]).total_seconds() if row["oldest"] else 0.0
    yield GaugeMetricFamily(
        "newvoice_task_queue_oldest_age_seconds", "How long the oldest waiting background task has waited (0: none).", value=max(age, 0.0)
    )


def ended_calls_and_cost() -> Iterator[Metric]:
    calls = CounterMetricFamily("newvoice_calls_ended", "Calls ended and measured, by outcome.", labels=["outcome", "simulated"])
    unpriced = CounterMetricFamily("newvoice_calls_unpriced", "Ended calls with no known price.", labels=["simulated"])
    # Calls are priced in NEWVOICE_CURRENCY only (a price in another currency leaves a call unpriced).
    cost = CounterMetricFamily("newvoice_call_cost", "Cost of the priced ended calls.", labels=["currency", "simulated"])
    rows = (
        DailyCallStats.objects.order_by()
        .values_list("outcome", "is_simulated")
        .annotate(calls=Sum("calls"), unpriced=Sum("unpriced_calls"), cost=Sum("cost_total"))
    )
    totals: dict[str, list] = {"false": [0, 0], "true": [0, 0]}
    for outcome, simulated, n, n_unpriced, amount in rows:
        flag = "true" if simulated else "false"
        calls.add_metric([outcome, flag], n or 0)
        totals[flag][0] += n_unpriced or 0
        totals[flag][1] += amount or 0
    for flag, (n_unpriced, amount) in totals.items():
        unpriced.add_metric([flag], n_unpriced)
        cost.add_metric([settings.NEWVOICE_CURRENCY, flag], float(amount))
    yield calls
    yield unpriced
    yield cost


def campaigns() -> Metric:
    family = GaugeMetricFamily("newvoice_campaigns", "Campaigns by status.", labels=["status"])
    counts = dict(Campaign.objects.order_by().values_list("status").annotate(n=Count("id")))
    for status in Campaign.Status:
        family.add_metric([status.value], counts.get(status, 0))
    return family


registry = CollectorRegistry(auto_describe=False)
registry.register(DatabaseCollector())


@cache
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {exc}") from None


def _from_allowed_address(request) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(settings.METRICS_ALLOWED_IPS)))


def _has_token(request) -> bool:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    token = settings.METRICS_TOKEN
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


@require_safe
def metrics(request):
    """Prometheus text exposition, for a scraper with the METRICS_TOKEN or from METRICS_ALLOWED_IPS.
    With neither configured the endpoint does not exist (404)."""
    if not (_from_allowed_address(request) or _has_token(request)):
        if not settings.METRICS_TOKEN:
            raise Http404
        response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4)  # the format every Prometheus reads
