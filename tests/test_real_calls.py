"""Real calls on loopback: the ``livekit`` dialer, through the real ``place_call`` task, the real
LiveKit server and the real LiveKit SIP service (``make livekit`` builds them), to SIPp answering
as the callee's phone. Each SIP answer ends the call with its outcome and SIP code; an answered call
is handed to the agent, and hanging it up deletes the room and sends the phone a BYE.

The server and the SIP service run once per module; they share Redis, so these tests run in the
PostgreSQL + Redis suite (the embedded suite skips them, saying so)."""

import asyncio

import pytest
from livekit import api

from campaigns.models import Call, CallTask, Campaign, Outcome
from campaigns.tasks import place_call
from tests.support.real_livekit import API_KEY, API_SECRET, Phone, phone, require_real_livekit, running_livekit
from voiceagent.dialers.livekit import LiveKitDialer

pytestmark = [pytest.mark.livekit, pytest.mark.django_db]
CALLEE = "+15551230001"
RINGING_SECONDS = 4


@pytest.fixture(scope="module")
def real_livekit():
    redis_url = require_real_livekit()
    with running_livekit(redis_url) as livekit:
        yield livekit


async def _lk(livekit, work):
    async with api.LiveKitAPI(livekit.url, API_KEY, API_SECRET) as lk:
        return await work(lk)


def livekit_api(livekit, work):
    return asyncio.run(_lk(livekit, work))


def rooms(livekit) -> list[str]:
    listed = livekit_api(livekit, lambda lk: lk.room.list_rooms(api.ListRoomsRequest()))
    return [room.name for room in listed.rooms]


@pytest.fixture
def dial(real_livekit, settings, org, skillbase, monkeypatch):
    """Place one call of a running campaign whose outbound trunk points at ``phone``."""
    settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = real_livekit.url, API_KEY, API_SECRET
    settings.NEWVOICE_DIALERS = {**settings.NEWVOICE_DIALERS, "livekit": "voiceagent.dialers.livekit.LiveKitDialer"}
    settings.NEWVOICE_RINGING_TIMEOUT = RINGING_SECONDS
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")  # the agent's providers need a key to start; none is called here

    def place(phone: Phone) -> Call:
        trunk = livekit_api(
            real_livekit,
            lambda lk: lk.sip.create_outbound_trunk(
                api.CreateSIPOutboundTrunkRequest(
                    trunk=api.SIPOutboundTrunkInfo(name="loopback phone", address=phone.address, numbers=["+15550000000"])
                )
            ),
        )
        campaign = Campaign.objects.create(
            organization=org, name="Real calls", skillbase=skillbase, status=Campaign.Status.RUNNING, dialer="livekit",
            sip_trunk_id=trunk.sip_trunk_id, caller_id="+15550000000",
        )  # fmt: skip
        task = CallTask.objects.create(
            organization=org, campaign=campaign, phone=CALLEE, name="Anna", status=CallTask.Status.IN_PROGRESS, attempts=1
        )
        call = Call.objects.create(
            organization=org, campaign=campaign, task=task, attempt=1, skillbase_version=skillbase.current_version,
            phone=CALLEE, dialer="livekit",
        )  # fmt: skip
        place_call(call.pk)
        call.refresh_from_db()
        return call

    return place


@pytest.mark.parametrize(
    ("code", "reason", "outcome"),
    [
        (486, "Busy Here", Outcome.BUSY),
        (603, "Decline", Outcome.DECLINED),
        (404, "Not Found", Outcome.INVALID_NUMBER),
        (480, "Temporarily Unavailable", Outcome.NO_ANSWER),
        (408, "Request Timeout", Outcome.NO_ANSWER),
        (500, "Server Internal Error", Outcome.FAILED),
    ],
)
def test_each_sip_answer_of_the_phone_ends_the_call_with_its_outcome(real_livekit, dial, code, reason, outcome):
    with phone("reject", ("code", str(code)), ("reason", reason)) as callee:
        call = dial(callee)
        assert callee.wait(timeout=30) == 0, callee.messages()  # it saw the INVITE and the ACK of its refusal
        assert f"INVITE sip:{CALLEE}@" in callee.messages()
    assert (call.status, call.outcome, call.sip_status_code) == (Call.Status.ENDED, outcome, code)
    assert str(code) in call.error
    assert f"call-{call.pk}" not in rooms(real_livekit)


def test_a_phone_that_rings_past_the_timeout_is_no_answer(real_livekit, dial):
    with phone("ring_forever") as callee:
        call = dial(callee)
        assert callee.wait(timeout=30) == 0, callee.messages()  # the INVITE was cancelled
        assert "CANCEL sip:" in callee.messages()
    assert (call.status, call.outcome) == (Call.Status.ENDED, Outcome.NO_ANSWER)
    assert f"call-{call.pk}" not in rooms(real_livekit)


def test_an_answered_call_is_handed_to_the_agent_and_hanging_up_sends_the_phone_a_bye(real_livekit, dial):
    with phone("answer_until_bye", rtp_echo=True) as callee:
        call = dial(callee)
        assert (call.status, call.outcome) == (Call.Status.IN_PROGRESS, "")
        assert call.sip_call_id and call.answered_at and call.lease_owner == f"agent:{call.pk}"
        assert call.room_name in rooms(real_livekit)
        participants = livekit_api(real_livekit, lambda lk: lk.room.list_participants(api.ListParticipantsRequest(room=call.room_name)))
        assert [p.identity for p in participants.participants] == [CALLEE]
        dispatches = livekit_api(real_livekit, lambda lk: lk.agent_dispatch.list_dispatch(call.room_name))
        assert [d.agent_name for d in dispatches if d.agent_name] == ["newvoice-agent"]  # (and the room's own, unnamed)
        LiveKitDialer().hang_up(call)  # as the reaper does for a call whose agent died
        assert callee.wait(timeout=30) == 0, callee.messages()  # the phone got its BYE and answered it
        assert "BYE sip:" in callee.messages()
    assert call.room_name not in rooms(real_livekit)
