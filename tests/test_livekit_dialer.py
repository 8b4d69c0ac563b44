"""The livekit dialer, through the real ``place_call`` task and the real livekit-api client, against a
local server speaking LiveKit's Twirp protocol (``tests/support/fake_livekit.py``)."""

import asyncio
import datetime as dt
import json
import socket
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone
from livekit import api

from campaigns.actions import finish_call
from campaigns.leases import Lease
from campaigns.models import Call, CallTask, Campaign
from campaigns.tasks import place_call
from tests.support.fake_livekit import API_KEY, API_SECRET, FakeLiveKit, TwirpError, unused_url
from voiceagent.dialers.livekit import REQUEST_TIMEOUT, Ending, LiveKitDialer, keep_lease, sip_ending

PHONE = "+15551230001"


@pytest.fixture(autouse=True)
def provider_keys(monkeypatch):
    """The agent's speech providers (OpenAI in the test skillbase) have their key."""
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    return monkeypatch


@pytest.fixture
def livekit(settings):
    with FakeLiveKit() as server:
        settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = server.url, API_KEY, API_SECRET
        settings.NEWVOICE_DIALERS = {"livekit": "voiceagent.dialers.livekit.LiveKitDialer"}
        settings.NEWVOICE_RINGING_TIMEOUT, settings.MAX_CALL_DURATION = 25, 600
        yield server
    assert not server.script_errors


@pytest.fixture
def make_call(org, skillbase):
    def make(*, caller_id="+15550000000", sip_trunk_id="ST_outbound") -> Call:
        campaign = Campaign.objects.create(
            organization=org, name="Reminders", skillbase=skillbase, status=Campaign.Status.RUNNING,
            dialer="livekit", sip_trunk_id=sip_trunk_id, caller_id=caller_id,
        )  # fmt: skip
        task = CallTask.objects.create(
            organization=org, campaign=campaign, phone=PHONE, name="Anna", status=CallTask.Status.IN_PROGRESS, attempts=1
        )
        return Call.objects.create(
            organization=org, campaign=campaign, task=task, attempt=1, skillbase_version=skillbase.current_version,
            phone=PHONE, dialer="livekit",
        )  # fmt: skip

    return make


def methods(server: FakeLiveKit) -> list[str]:
    return [request.method for request in server.requests]


@pytest.mark.django_db
def test_an_answered_call_is_handed_to_the_agent(livekit, make_call, settings):
    call = make_call()
    place_call(call.pk)

    room_name = f"call-{call.pk}"
    assert methods(livekit) == ["CreateRoom", "CreateDispatch", "CreateSIPParticipant"]
    room, dispatch, sip = (request.message for request in livekit.requests)
    assert room.name == room_name and json.loads(room.metadata) == {"call_id": call.pk}
    assert room.empty_timeout == 25 + 30
    assert (dispatch.agent_name, dispatch.room) == (settings.LIVEKIT_AGENT_NAME, room_name)
    assert json.loads(dispatch.metadata) == {"call_id": call.pk}
    assert (sip.sip_trunk_id, sip.sip_call_to, sip.sip_number, sip.room_name) == ("ST_outbound", PHONE, "+15550000000", room_name)
    assert (sip.participant_identity, sip.participant_name) == (PHONE, "Anna")
    assert sip.wait_until_answered and sip.krisp_enabled
    assert (sip.ringing_timeout.seconds, sip.max_call_duration.seconds) == (25, 600)

    # The tokens were signed with the secret (the server checked) and carry what each method needs.
    room_claims, dispatch_claims, sip_claims = (request.claims for request in livekit.requests)
    assert {room_claims["iss"], dispatch_claims["iss"], sip_claims["iss"]} == {API_KEY}
    assert room_claims["video"]["roomCreate"] is True
    assert (dispatch_claims["video"]["roomAdmin"], dispatch_claims["video"]["room"]) == (True, room_name)
    assert sip_claims["sip"]["call"] is True
    assert livekit.requests[0].headers["Content-Type"] == "application/protobuf"

    call.refresh_from_db()
    assert (call.status, call.room_name, call.lease_owner) == (Call.Status.IN_PROGRESS, room_name, f"agent:{call.pk}")
    assert call.answered_at is not None and call.sip_call_id.startswith("SCL_")
    assert call.lease_expires_at > timezone.now() + dt.timedelta(seconds=50)  # a fresh lease for the agent
    assert room_name in livekit.rooms  # the conversation goes on in it


@pytest.mark.django_db
def test_without_a_caller_id_the_trunk_chooses_the_number(livekit, make_call):
    call = make_call(caller_id="")
    place_call(call.pk)
    (sip,) = livekit.received("CreateSIPParticipant")
    assert sip.sip_number == "" and sip.sip_trunk_id == "ST_outbound"


@pytest.mark.parametrize(
    ("answer", "outcome", "sip_status_code", "error"),
    [
        (486, "busy", 486, "486 Busy Here"),
        (600, "busy", 600, "600 Busy Everywhere"),
        (480, "no_answer", 480, "480 Temporarily Unavailable"),
        (408, "no_answer", 408, "408 Request Timeout"),
        ("no_answer", "no_answer", None, "No answer within 25 s"),
        (TwirpError("failed_precondition", "context deadline exceeded"), "no_answer", None, "No answer within 25 s"),
        (603, "declined", 603, "603 Decline"),
        (403, "declined", 403, "403 Forbidden"),
        (607, "declined", 607, "607 Unwanted"),
        (608, "declined", 608, "608 Rejected"),
        (404, "invalid_number", 404, "404 Not Found"),
        (484, "invalid_number", 484, "484 Address Incomplete"),
        (503, "failed", 503, "503 Service Unavailable"),
        (487, "failed", 487, "487 SIP_STATUS_REQUEST_TERMINATED"),
    ],
)
@pytest.mark.django_db
def test_an_unanswered_call_ends_with_what_its_sip_status_means(livekit, make_call, answer, outcome, sip_status_code, error):
    livekit.sip_outcome = answer
    call = make_call()
    place_call(call.pk)

    call.refresh_from_db()
    assert (call.status, call.outcome, call.sip_status_code) == (Call.Status.ENDED, outcome, sip_status_code)
    assert error in call.error and "Traceback" not in call.error
    assert call.answered_at is None and call.lease_expires_at is None
    assert call.task.outcome == outcome
    # The room is deleted, so the agent job dispatched into it ends too.
    assert methods(livekit) == ["CreateRoom", "CreateDispatch", "CreateSIPParticipant", "DeleteRoom"]
    assert livekit.received("DeleteRoom")[0].room == call.room_name and not livekit.rooms


@pytest.mark.django_db
def test_a_livekit_server_that_is_down_fails_the_call_quickly_naming_it(livekit, make_call, settings):
    settings.LIVEKIT_URL = unused_url()
    call = make_call()
    started = time.monotonic()
    place_call(call.pk)

    assert time.monotonic() - started < 5
    call.refresh_from_db()
    assert (call.status, call.outcome, call.sip_status_code) == (Call.Status.ENDED, "failed", None)
    assert call.error.startswith(f"Could not reach LiveKit at {settings.LIVEKIT_URL}: ")
    assert "Traceback" not in call.error


@pytest.mark.django_db
def test_a_livekit_server_that_never_answers_fails_the_call_within_the_request_timeout(livekit, make_call, settings):
    with socket.create_server(("127.0.0.1", 0)) as silent:  # connections are queued, never answered
        settings.LIVEKIT_URL = f"http://127.0.0.1:{silent.getsockname()[1]}"
        call = make_call()
        started = time.monotonic()
        place_call(call.pk)
        elapsed = time.monotonic() - started

    assert REQUEST_TIMEOUT <= elapsed < REQUEST_TIMEOUT + 3
    call.refresh_from_db()
    assert (call.outcome, call.error) == (
        "failed",
        f"Could not reach LiveKit at {settings.LIVEKIT_URL}: the server did not respond in time.",
    )


@pytest.mark.django_db
def test_a_wrong_api_secret_fails_the_call_with_a_clear_error(livekit, make_call, settings):
    settings.LIVEKIT_API_SECRET = "not-the-secret-the-server-knows-at-all"
    call = make_call()
    place_call(call.pk)

    call.refresh_from_db()
    assert (call.status, call.outcome) == (Call.Status.ENDED, "failed")
    assert call.error.startswith(f"LiveKit at {livekit.url} refused the request (unauthenticated, HTTP 401): invalid token")
    assert "Check LIVEKIT_API_KEY and LIVEKIT_API_SECRET." in call.error
    assert methods(livekit) == ["CreateRoom"] and livekit.requests[0].claims == {}  # refused; nothing dispatched or dialled


@pytest.mark.django_db
def test_a_failed_dispatch_deletes_the_room_and_dials_nobody(livekit, make_call):
    livekit.failures["CreateDispatch"] = TwirpError("internal", "dispatch store down")
    call = make_call()
    place_call(call.pk)

    call.refresh_from_db()
    assert call.outcome == "failed"
    assert call.error == f"LiveKit at {livekit.url} refused the request (internal, HTTP 500): dispatch store down."
    assert methods(livekit) == ["CreateRoom", "CreateDispatch", "DeleteRoom"]


@pytest.mark.django_db
def test_placing_a_call_twice_dials_once(livekit, make_call):
    call = make_call()
    place_call(call.pk)
    place_call(call.pk)
    assert len(livekit.received("CreateSIPParticipant")) == 1
    call.refresh_from_db()
    assert call.status == Call.Status.IN_PROGRESS


@pytest.mark.django_db
def test_problems_name_every_missing_setting(make_call, settings):
    settings.LIVEKIT_URL = settings.LIVEKIT_API_KEY = settings.LIVEKIT_API_SECRET = ""
    campaign = make_call(sip_trunk_id="").campaign
    problems = LiveKitDialer().problems(campaign)
    assert len(problems) == 4
    for name, problem in zip(["LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "SIP trunk id"], problems, strict=True):
        assert name in problem and problem.startswith("Set ")

    settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = "wss://lk.example", "key", "secret"
    campaign.sip_trunk_id = "ST_outbound"
    assert LiveKitDialer().problems(campaign) == []


def test_problems_name_a_missing_provider_key(make_call, settings, provider_keys):
    settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = "wss://lk.example", "key", "secret"
    provider_keys.delenv("OPENAI_API_KEY")
    problems = LiveKitDialer().problems(make_call().campaign)
    assert problems == ["The skillbase's speech and language providers need OPENAI_API_KEY in the environment."]


@pytest.mark.django_db
def test_a_call_placed_without_settings_fails_with_the_problems(livekit, make_call, settings):
    call = make_call(sip_trunk_id="")
    place_call(call.pk)
    call.refresh_from_db()
    assert call.outcome == "failed" and "SIP trunk id" in call.error
    assert livekit.requests == []


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (486, "busy"),
        (600, "busy"),
        (480, "no_answer"),
        (408, "no_answer"),
        (603, "declined"),
        (403, "declined"),
        (607, "declined"),
        (608, "declined"),
        (404, "invalid_number"),
        (484, "invalid_number"),
        (410, "invalid_number"),
        (604, "invalid_number"),
        (487, "failed"),
        (500, "failed"),
        (503, "failed"),
        (402, "failed"),
    ],
)
def test_sip_status_to_outcome(code, outcome):
    error = api.SipCallError("unknown", "INVITE failed", status=400, metadata={"sip_status_code": str(code), "sip_status": "Why"})
    ending = sip_ending(error, ringing_timeout=30)
    assert (ending.outcome, ending.sip_status_code) == (outcome, code)
    assert ending.error == f"SIP call failed: {code} Why (unknown)"


def test_errors_without_a_sip_status():
    canceled = api.ServerError("canceled", "sip request timed out", status=408)
    assert sip_ending(canceled, ringing_timeout=30) == Ending("no_answer", "No answer within 30 s (canceled: sip request timed out).")
    race = api.ServerError("failed_precondition", "context deadline exceeded", status=412)
    assert sip_ending(race, ringing_timeout=30).outcome == "no_answer"
    # Not about the call: the dialer reports these as a LiveKit failure.
    assert sip_ending(api.ServerError("unauthenticated", "invalid token", status=401), ringing_timeout=30) is None
    assert sip_ending(api.ServerError("internal", "boom", status=500), ringing_timeout=30) is None


def _lease_expiry(call_id: int) -> dt.datetime:
    try:
        return Call.objects.values_list("lease_expires_at", flat=True).get(pk=call_id)
    finally:
        connection.close()  # this thread's own connection


@pytest.mark.django_db(transaction=True)
def test_the_lease_is_renewed_while_the_phone_rings(livekit, make_call):
    call = make_call()
    assert Call.objects.claim_for_dialing(call.pk, "worker-1", 3)
    claimed_until = Call.objects.get(pk=call.pk).lease_expires_at
    seen = []

    async def answer_late(_request):
        await asyncio.sleep(2.5)
        seen.append(await asyncio.to_thread(_lease_expiry, call.pk))
        return "answer"

    livekit.sip_outcome = answer_late
    LiveKitDialer().place(Call.objects.select_related("campaign", "task").get(pk=call.pk), Lease(call.pk, "worker-1", seconds=3))

    assert seen[0] >= claimed_until + dt.timedelta(seconds=1.5)  # renewed every second (a third of the lease)
    call.refresh_from_db()
    assert (call.status, call.lease_owner) == (Call.Status.IN_PROGRESS, f"agent:{call.pk}")


@pytest.mark.django_db(transaction=True)
def test_a_call_ended_while_ringing_is_hung_up_when_answered(livekit, make_call):
    call = make_call()

    async def reaped_then_answered(_request):
        await asyncio.to_thread(_reap, call.pk)
        return "answer"

    livekit.sip_outcome = reaped_then_answered
    place_call(call.pk)

    call.refresh_from_db()
    assert (call.status, call.outcome, call.answered_at) == (Call.Status.ENDED, "lost", None)
    assert methods(livekit)[-1] == "DeleteRoom"


@pytest.mark.django_db(transaction=True)
def test_the_reaper_hangs_up_an_answered_call_whose_agent_died(livekit, make_call):
    from campaigns.dispatch import reap

    call = make_call()
    place_call(call.pk)  # answered: the agent job now owns it and must renew the lease
    Call.objects.filter(pk=call.pk).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert reap(timezone.now()) == 1
    call.refresh_from_db()
    assert (call.status, call.outcome) == (Call.Status.ENDED, "lost")
    assert methods(livekit)[-1] == "DeleteRoom"
    assert livekit.requests[-1].message.room == call.room_name


def _reap(call_id: int) -> None:
    try:
        finish_call(call_id, outcome="lost", error="The worker stopped renewing the lease.")
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
async def test_keep_lease_renews_until_the_block_ends(make_call):
    call = await sync_to_async(_answered_call)(make_call)
    lease = Lease(call.pk, f"agent:{call.pk}", seconds=1)
    before = (await Call.objects.aget(pk=call.pk)).lease_expires_at
    async with keep_lease(lease):
        await asyncio.sleep(0.8)
    renewed = (await Call.objects.aget(pk=call.pk)).lease_expires_at
    assert renewed > before
    await asyncio.sleep(0.5)
    assert (await Call.objects.aget(pk=call.pk)).lease_expires_at == renewed


def _answered_call(make_call) -> Call:
    call = make_call()
    Call.objects.filter(pk=call.pk).update(status=Call.Status.IN_PROGRESS, lease_owner=f"agent:{call.pk}", lease_expires_at=timezone.now())
    return call
