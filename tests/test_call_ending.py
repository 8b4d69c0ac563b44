"""One ending for every call: ``finish_call`` writes the call's end, its single ``call_ended`` event,
its measurement and the campaign's safety rails in one transaction, whichever door ended it — the
agent, the simulator, a dialer that failed or found no answer, the reaper — and a live watcher of the
call is told it ended, once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from analytics.models import CallMetrics
from campaigns.actions import finish_call
from campaigns.dispatch import reap
from campaigns.models import Call, CallLog, CallTask, Campaign
from campaigns.tasks import place_call
from newvoice.asgi import application
from tests.support.engine import add_contacts, make_campaign, use_scripted_dialer
from tests.support.fake_livekit import API_KEY, API_SECRET, FakeLiveKit

PHONE = "+15551230001"


def live_call(campaign: Campaign, *, status=Call.Status.IN_PROGRESS, dialer: str = "", **fields) -> Call:
    task = CallTask.objects.create(
        organization=campaign.organization, campaign=campaign, phone=PHONE, status=CallTask.Status.IN_PROGRESS, attempts=1
    )
    return Call.objects.create(
        organization=campaign.organization, campaign=campaign, task=task, attempt=1, phone=PHONE, dialer=dialer or campaign.dialer,
        skillbase_version=campaign.skillbase.current_version, status=status, **fields,
    )  # fmt: skip


def endings(call: Call) -> list[tuple[str, dict]]:
    return list(CallLog.objects.filter(call=call, kind=CallLog.Kind.CALL_ENDED).values_list("text", "data"))


@pytest.fixture
def campaign(org, skillbase, settings):
    use_scripted_dialer(settings)
    return make_campaign(org, skillbase, status=Campaign.Status.RUNNING)


@pytest.mark.django_db
def test_the_reaper_ends_a_lost_call_with_its_call_ended_event(campaign):
    call = live_call(campaign, lease_expires_at=timezone.now() - dt.timedelta(seconds=1), lease_owner="gone:1")
    assert reap(timezone.now()) == 1
    call.refresh_from_db()
    assert (call.status, call.outcome) == (Call.Status.ENDED, "lost")
    [(text, data)] = endings(call)
    assert data == {"outcome": "lost"} and text == "The worker holding this call stopped answering."


@pytest.mark.django_db
def test_a_dialer_that_fails_in_place_call_ends_the_call_with_its_event(campaign):
    call = live_call(campaign, status=Call.Status.QUEUED)
    call.task.variables = {"line": "raise"}
    call.task.save(update_fields=["variables"])
    place_call(call.pk)
    call.refresh_from_db()
    assert call.outcome == "failed"
    [(text, data)] = endings(call)
    assert data == {"outcome": "failed"} and "the SIP trunk hung up" in text


@pytest.mark.django_db
@pytest.mark.parametrize("trunk", ["ST_outbound", ""])
def test_the_livekit_dialers_unanswered_and_misconfigured_calls_end_with_their_event(org, skillbase, settings, monkeypatch, trunk):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeLiveKit() as server:
        settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = server.url, API_KEY, API_SECRET
        settings.NEWVOICE_RINGING_TIMEOUT = 25
        server.sip_outcome = 486  # busy, when it gets as far as dialling
        campaign = Campaign.objects.create(
            organization=org, name="Reminders", skillbase=skillbase, status=Campaign.Status.RUNNING, dialer="livekit",
            sip_trunk_id=trunk, caller_id="+15550000000",
        )  # fmt: skip
        call = live_call(campaign, status=Call.Status.QUEUED)
        place_call(call.pk)
    [(text, data)] = endings(call)
    if trunk:
        assert data == {"outcome": "busy", "sip_status_code": 486} and "486" in text
    else:
        assert data == {"outcome": "failed"} and "SIP trunk id" in text and server.requests == []


@pytest.mark.django_db
def test_a_call_ended_twice_has_one_ending(campaign):
    call = live_call(campaign)
    finish_call(call.pk, outcome="success", details={"talk_seconds": 12.5})
    finish_call(call.pk, outcome="failed", error="late")
    call.refresh_from_db()
    assert call.outcome == "success"
    assert endings(call) == [("", {"talk_seconds": 12.5, "outcome": "success"})]


@pytest.mark.django_db
def test_a_call_that_cannot_be_measured_still_ends_says_why_and_the_rails_apply(campaign):
    # A failure rate of 100% over the last call pauses the campaign: the rail must run although
    # the call's own measurement fails (a latency that is not a number, as a broken agent may log).
    Campaign.objects.filter(pk=campaign.pk).update(failure_window=1, failure_threshold=0.0)
    add_contacts(campaign, 1, first=5)
    call = live_call(campaign)
    CallLog.objects.append(call, "transcript", role="assistant", text="Hello", data={"latency_ms": "soon"})
    finish_call(call.pk, outcome="failed", error="The line dropped.")
    call.refresh_from_db()
    assert call.status == Call.Status.ENDED and call.outcome == "failed"
    assert "could not convert string to float" in call.unmeasured_reason and call.unmeasured_reason.startswith("ValueError")
    assert not CallMetrics.objects.filter(call=call).exists()
    assert len(endings(call)) == 1  # the ending stays whole: only the measurement was rolled back
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED and "failed" in campaign.status_reason


@pytest.mark.django_db
def test_spend_and_the_budget_rail_move_together_with_the_ending(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(budget_cap=Decimal("0.01"))
    add_contacts(campaign, 1, first=5)  # someone is still to be called: the campaign pauses, not completes
    call = live_call(campaign, answered_at=timezone.now(), dialer="livekit")  # a minute on a LiveKit SIP line: $0.01
    finish_call(call.pk, outcome="success", details={"ring_seconds": 3, "talk_seconds": 60})
    campaign.refresh_from_db()
    assert call.metrics.cost_total == campaign.spent == Decimal("0.010000")
    assert campaign.status == Campaign.Status.PAUSED and "budget" in campaign.status_reason


def cookie_for(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


@pytest.mark.django_db(transaction=True)
async def test_a_watcher_of_a_reaped_call_is_told_it_ended_once(org, skillbase, viewer, settings):
    use_scripted_dialer(settings)
    campaign = await sync_to_async(make_campaign)(org, skillbase, status=Campaign.Status.RUNNING)
    call = await sync_to_async(live_call)(campaign, lease_expires_at=timezone.now() + dt.timedelta(seconds=2), lease_owner="gone:1")
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver"), (b"cookie", await sync_to_async(cookie_for)(viewer))]
    socket = WebsocketCommunicator(application, f"/api/analytics/ws/calls/{call.pk}", headers=headers)
    connected, _ = await socket.connect()
    assert connected
    snapshot = await socket.receive_json_from(timeout=5)
    assert snapshot["type"] == "snapshot" and snapshot["call"]["status"] == "in_progress"
    await sync_to_async(reap)(timezone.now() + dt.timedelta(seconds=5))
    event = await socket.receive_json_from(timeout=10)
    assert (event["type"], event["kind"], event["outcome"]) == ("event", "call_ended", "lost")
    assert await socket.receive_nothing(timeout=1.5)  # once
    await socket.disconnect()
