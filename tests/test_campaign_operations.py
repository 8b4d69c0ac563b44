"""The campaign page's operations panel: figures from the campaign's rows, the same few queries
whatever its size, and the settings as an operator fills them (weekdays, a retry table)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import CallTask, Campaign, Outcome
from campaigns.operations import operations
from tests.support.calls import conversation, ended_call
from tests.support.engine import add_contacts, make_campaign
from tests.test_admin import campaign_form_data


@pytest.fixture
def campaign(org, skillbase):
    return make_campaign(org, skillbase, name="Autumn", budget_cap=Decimal("10"), default_timezone="Europe/Moscow")


def _calls(campaign, n: int) -> None:
    talk = conversation(("assistant", "Hello"), ("user", "yes"), steps=("greeting", "confirmed"))
    for _ in range(n):
        ended_call(campaign, events=talk, last_step="confirmed")
    CallTask.objects.filter(campaign=campaign).update(status=CallTask.Status.COMPLETED, outcome=Outcome.SUCCESS)


def test_the_panel_counts_the_campaigns_own_rows(campaign, other_org, skillbase_factory):
    _calls(campaign, 3)
    later = timezone.now() + dt.timedelta(hours=3)
    add_contacts(campaign, 2, first=50, attempts=1, outcome=Outcome.NO_ANSWER, next_attempt_at=later, timezones=["Asia/Vladivostok"])
    add_contacts(campaign, 1, first=60, attempts=1, outcome=Outcome.CALLBACK_REQUESTED, next_attempt_at=later - dt.timedelta(hours=1))
    add_contacts(campaign, 4, first=70)
    _calls(make_campaign(other_org, skillbase_factory(other_org), name="Theirs"), 5)
    Campaign.objects.filter(pk=campaign.pk).update(spent=Decimal("2.5"))
    campaign.refresh_from_db()
    ops = operations(campaign)
    assert (ops.total, ops.done, ops.percent_done) == (10, 3, 30)
    assert ops.tasks["pending"] == 7 and ops.percent_spent == 25
    assert [(o["value"], o["count"]) for o in ops.outcomes] == [("success", 3), ("no_answer", 2), ("callback_requested", 1)]
    first, second, _third = ops.upcoming
    assert first["callback"] and first["zone"] == "Europe/Moscow"  # no zone of its own: the campaign's
    assert not second["callback"] and second["zone"] == "Asia/Vladivostok"
    assert second["at"].utcoffset() == dt.timedelta(hours=10)
    assert len(ops.latest) == 3


def _queries(client, campaign) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").status_code == 200
    return len(queries)


def test_the_page_takes_the_same_queries_with_more_calls(client, operator, campaign):
    client.force_login(operator)
    _calls(campaign, 2)
    _queries(client, campaign)  # the first request of a session reads what later ones have cached
    few = _queries(client, campaign)
    _calls(campaign, 12)
    add_contacts(campaign, 8, first=100, attempts=1, outcome=Outcome.BUSY, next_attempt_at=timezone.now())
    assert _queries(client, campaign) == few


def test_weekdays_and_the_retry_table_are_saved_as_the_campaign_reads_them(client, org, operator, skillbase):
    client.force_login(operator)
    data = campaign_form_data(org, skillbase, calling_days=["5", "1", "3"])
    del data["retry_policy"]
    data.update({"retry_policy-busy-retry": "on", "retry_policy-busy-delay": "15", "retry_policy-no_answer-delay": "90",
                 "retry_policy-voicemail-retry": "on", "retry_policy-voicemail-delay": ""})  # fmt: skip
    response = client.post("/admin/campaigns/campaign/add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign = Campaign.objects.get()
    assert campaign.calling_days == [1, 3, 5]
    assert campaign.retry_policy == {"busy": {"retry": True, "delay_minutes": 15}, "voicemail": {"retry": True, "delay_minutes": 60}}
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert 'name="retry_policy-busy-retry" aria-label="Busy" checked' in page and 'name="retry_policy-busy-delay" value="15"' in page


def test_a_bad_delay_is_named_and_nothing_is_saved(client, org, operator, skillbase):
    client.force_login(operator)
    data = campaign_form_data(org, skillbase)
    del data["retry_policy"]
    data.update({"retry_policy-busy-retry": "on", "retry_policy-busy-delay": "soon"})
    response = client.post("/admin/campaigns/campaign/add/", data)
    assert response.status_code == 200 and not Campaign.objects.exists()
    assert "retry_policy.busy.delay_minutes" in str(response.context["adminform"].form.errors["retry_policy"])
