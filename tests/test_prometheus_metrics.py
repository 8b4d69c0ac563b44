"""GET /metrics: Prometheus text read from the database at scrape time, for a scraper with the
bearer token or from an allowed address, and a fixed number of queries however many calls exist."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone
from django_q.models import OrmQ
from prometheus_client.parser import text_string_to_metric_families

from analytics.models import CallMetrics
from campaigns.models import Call, CallTask
from tests.support.calls import ended_call
from tests.support.engine import add_contacts, make_campaign, started, use_scripted_dialer

pytestmark = pytest.mark.django_db
TOKEN = "scrape-token-for-tests-0123456789"


@pytest.fixture(autouse=True)
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}", **headers})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def queued_call(campaign, task, *, waited: dt.timedelta) -> Call:
    call = Call.objects.create(
        organization_id=campaign.organization_id, campaign=campaign, task=task, attempt=1,
        skillbase_version=campaign.skillbase.current_version, phone=task.phone, dialer="scripted",
    )  # fmt: skip
    Call.objects.filter(pk=call.pk).update(created_at=timezone.now() - waited)
    return call


@pytest.fixture
def activity(org, skillbase, settings):
    use_scripted_dialer(settings)
    running = started(make_campaign(org, skillbase, name="Running", contacts=5))
    paused = make_campaign(org, skillbase, name="Draft", contacts=2)  # its pending tasks are not the dialers' backlog
    future = add_contacts(running, 1, first=100, next_attempt_at=timezone.now() + dt.timedelta(hours=1))
    tasks = list(running.tasks.order_by("id"))
    queued_call(running, tasks[0], waited=dt.timedelta(seconds=90))
    queued_call(running, tasks[1], waited=dt.timedelta(seconds=10))
    dialing = queued_call(running, tasks[2], waited=dt.timedelta(seconds=5))
    Call.objects.filter(pk=dialing.pk).update(status=Call.Status.DIALING)
    CallTask.objects.filter(pk__in=[t.pk for t in tasks[:3]]).update(status=CallTask.Status.IN_PROGRESS)
    for outcome in ("success", "success", "busy"):
        ended_call(paused, outcome=outcome)
    ended_call(paused, outcome="voicemail", simulated=True)
    now = timezone.now()
    OrmQ.objects.create(key="newvoice", payload="waiting", lock=now - dt.timedelta(seconds=120))
    OrmQ.objects.create(key="newvoice", payload="waiting", lock=now - dt.timedelta(seconds=3))
    OrmQ.objects.create(key="newvoice", payload="held by a worker", lock=now + dt.timedelta(seconds=600))
    return {"running": running, "future": future}


def test_values_match_the_database(client, activity, settings):
    samples = scrape(client)

    assert samples["newvoice_calls_live", (("status", "queued"),)] == 2
    assert samples["newvoice_calls_live", (("status", "dialing"),)] == 1
    assert samples["newvoice_calls_live", (("status", "in_progress"),)] == 0
    # 5 contacts of the running campaign, 3 of them on a call; the one due in an hour is not due.
    assert samples["newvoice_call_tasks_due", ()] == 2
    assert 90 <= samples["newvoice_calls_queued_oldest_age_seconds", ()] < 120
    assert samples["newvoice_task_queue_length", (("state", "waiting"),)] == 2
    assert samples["newvoice_task_queue_length", (("state", "held"),)] == 1
    assert 120 <= samples["newvoice_task_queue_oldest_age_seconds", ()] < 150

    assert samples["newvoice_calls_ended_total", (("outcome", "success"), ("simulated", "false"))] == 2
    assert samples["newvoice_calls_ended_total", (("outcome", "busy"), ("simulated", "false"))] == 1
    assert samples["newvoice_calls_ended_total", (("outcome", "voicemail"), ("simulated", "true"))] == 1
    ended = Call.objects.filter(status=Call.Status.ENDED).count()
    assert sum(v for (name, _), v in samples.items() if name == "newvoice_calls_ended_total") == ended == 4

    for simulated in (False, True):
        priced = CallMetrics.objects.filter(is_simulated=simulated).aggregate(cost=Sum("cost_total"))["cost"] or Decimal(0)
        labels = (("currency", settings.NEWVOICE_CURRENCY), ("simulated", str(simulated).lower()))
        assert samples["newvoice_call_cost_total", labels] == pytest.approx(float(priced))
    assert samples["newvoice_call_cost_total", (("currency", settings.NEWVOICE_CURRENCY), ("simulated", "false"))] > 0
    unpriced = CallMetrics.objects.filter(is_priced=False).count()
    assert sum(v for (name, _), v in samples.items() if name == "newvoice_calls_unpriced_total") == unpriced

    assert samples["newvoice_campaigns", (("status", "running"),)] == 1
    assert samples["newvoice_campaigns", (("status", "draft"),)] == 1


def test_an_empty_installation_reports_zeros(client):
    samples = scrape(client)
    assert samples["newvoice_calls_live", (("status", "queued"),)] == 0
    assert samples["newvoice_calls_queued_oldest_age_seconds", ()] == 0
    assert samples["newvoice_task_queue_oldest_age_seconds", ()] == 0
    assert not [key for key in samples if key[0] == "newvoice_calls_ended_total"]


def test_a_scrape_costs_the_same_queries_however_many_calls(client, activity, django_assert_num_queries):
    with django_assert_num_queries(6):
        scrape(client)
    for outcome in ("refusal", "no_answer", "declined"):
        ended_call(activity["running"], outcome=outcome)
    with django_assert_num_queries(6):
        scrape(client)


def test_without_the_token_the_scraper_is_refused(client):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"newvoice_" not in response.content
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Token {TOKEN}"}).status_code == 401
    assert client.post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 405


def test_a_signed_in_superuser_is_no_scraper(client, superuser):
    client.force_login(superuser)
    assert client.get("/metrics").status_code == 401


def test_allowed_addresses_need_no_token(client, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "192.0.2.7"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.8").status_code == 401


def test_addresses_only_hide_the_endpoint_from_others(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404


def test_off_unless_configured(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404
