"""Real calls on loopback: the ``livekit`` dialer, through the real ``place_call`` task, the real
LiveKit server and the real LiveKit SIP service (``make livekit`` builds them), to SIPp answering
as the callee's phone. Each SIP answer ends the call with its outcome and SIP code; an answered call
is handed to the agent, and hanging it up deletes the room and sends the phone a BYE.

The server and the SIP service run once per module; they share Redis, so these tests run in the
PostgreSQL + Redis suite (the embedded suite skips them, saying so)."""

import asyncio
import re

import pytest
from livekit import api

from campaigns.models import Call, CallTask, Campaign, Outcome
from campaigns.tasks import place_call
from tests.support.ci import in_ci
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

    def place(phone: Phone, *, skillbase=skillbase) -> Call:
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


def test_an_answered_call_nobody_holds_is_reaped_as_lost_and_the_phone_hung_up(real_livekit, dial):
    """The agent that should take the answered call never renews its lease (its worker died before
    it could): once the lease has run out, the reaper ends the call as lost, hangs the phone up
    through the real server and the contact waits for its next attempt."""
    import datetime as dt

    from django.utils import timezone

    from campaigns.dispatch import reap

    with phone("answer_until_bye", rtp_echo=True) as callee:
        call = dial(callee)
        assert call.status == Call.Status.IN_PROGRESS
        assert reap(timezone.now()) == 0  # the lease handed to the agent still runs
        assert reap(call.lease_expires_at + dt.timedelta(seconds=1)) == 1
        assert callee.wait(timeout=30) == 0, callee.messages()
        assert "BYE sip:" in callee.messages()
    call.refresh_from_db()
    task = CallTask.objects.get(pk=call.task_id)
    assert (call.status, call.outcome) == (Call.Status.ENDED, Outcome.LOST)
    assert task.status == CallTask.Status.PENDING and task.attempts == 1
    assert call.room_name not in rooms(real_livekit)


async def _talk_in_room(livekit, room_name: str, *, say: bytes, seconds: float) -> bytes:
    """Join the call's room as the bot would, speak ``say`` (8 kHz PCM) and return what the phone's
    participant sent into the room meanwhile (48 kHz PCM)."""
    from livekit import rtc

    token = api.AccessToken(API_KEY, API_SECRET).with_identity("bot").with_grants(api.VideoGrants(room_join=True, room=room_name)).to_jwt()
    room, heard, subscribed = rtc.Room(), bytearray(), asyncio.Event()
    streams: list[asyncio.Task] = []

    async def listen(track: rtc.Track) -> None:
        async for event in rtc.AudioStream(track, sample_rate=48000, num_channels=1):
            heard.extend(bytes(event.frame.data))

    @room.on("track_subscribed")
    def on_track(track, _publication, participant):
        if participant.identity == CALLEE and track.kind == rtc.TrackKind.KIND_AUDIO:
            streams.append(asyncio.create_task(listen(track)))
            subscribed.set()

    await room.connect(livekit.ws_url, token)
    try:
        source = rtc.AudioSource(8000, 1)
        track = rtc.LocalAudioTrack.create_audio_track("voice", source)
        await room.local_participant.publish_track(track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE))
        await asyncio.wait_for(subscribed.wait(), timeout=10)
        frame_bytes = 160 * 2
        for start in range(0, int(seconds * 8000) * 2, frame_bytes):
            chunk = say[start : start + frame_bytes].ljust(frame_bytes, b"\x00")
            await source.capture_frame(rtc.AudioFrame(chunk, 8000, 1, 160))
        await asyncio.sleep(0.5)
    finally:
        for stream in streams:
            stream.cancel()
        await room.disconnect()
    return bytes(heard)


def test_audio_flows_both_ways_between_the_room_and_the_phone(real_livekit, dial):
    """Real media: what is spoken into the call's room reaches the phone as RTP, and what the phone
    says reaches the room, through the real server and SIP service."""
    from tests.support.rtp_phone import RtpPhone, rms, tone

    with RtpPhone(plays=tone(4.0, frequency=700)) as callee:
        call = dial(callee)
        assert call.status == Call.Status.IN_PROGRESS and callee.answered.is_set()
        from_phone = asyncio.run(_talk_in_room(real_livekit, call.room_name, say=tone(3.0, frequency=440), seconds=3.0))
        assert rms(bytes(callee.heard)) > 1000, "the phone heard silence"
        assert rms(from_phone) > 1000, "the room heard silence from the phone"
        LiveKitDialer().hang_up(call)
        assert callee.ended.wait(timeout=15), callee.events  # a BYE came
    assert any(line.startswith("BYE ") for line in callee.events)


def test_the_bot_s_local_voice_reaches_the_phone(real_livekit, dial):
    """Piper's English voice, synthesised here, spoken into the call's room: the phone hears speech
    for about as long as the line lasts."""
    import importlib.util

    if importlib.util.find_spec("piper") is None:
        message = "local voices are not installed: make speech"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    from tests.support.rtp_phone import RATE, RtpPhone, audioop, rms
    from tests.test_local_voices import synthesise
    from voiceagent.local_speech import LocalTTS

    pcm, rate = asyncio.run(synthesise(LocalTTS(language="en-US"), "Hello! This is Bright Smile dental clinic, calling about your visit."))
    line, _state = audioop.ratecv(pcm, 2, 1, rate, RATE, None)
    seconds = len(line) / 2 / RATE
    with RtpPhone() as callee:
        call = dial(callee)
        asyncio.run(_talk_in_room(real_livekit, call.room_name, say=line, seconds=seconds))
        heard = bytes(callee.heard)
        loud = sum(rms(heard[i : i + 320]) > 300 for i in range(0, len(heard), 320)) * 0.02  # seconds of sound
        assert loud > seconds * 0.5, (loud, seconds)
        LiveKitDialer().hang_up(call)


def require_local_speech() -> None:
    import importlib.util

    if importlib.util.find_spec("piper") is None or importlib.util.find_spec("faster_whisper") is None:
        message = "local speech is not installed: make speech"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


def spoken(text: str) -> bytes:
    """``text`` in Piper's English voice, as 8 kHz PCM for the phone to say."""
    from tests.support.rtp_phone import RATE, audioop
    from tests.test_local_voices import synthesise
    from voiceagent.local_speech import LocalTTS

    pcm, rate = asyncio.run(synthesise(LocalTTS(language="en-US"), text))
    return audioop.ratecv(pcm, 2, 1, rate, RATE, None)[0]


def heard_as_text(pcm: bytes) -> str:
    """What the phone heard (8 kHz PCM), recognised by the local speech recognition."""
    from livekit import rtc

    from tests.support.rtp_phone import RATE
    from voiceagent.local_speech import LocalSTT

    async def recognise() -> str:
        event = await LocalSTT(language="en-US").recognize([rtc.AudioFrame(pcm, RATE, 1, len(pcm) // 2)])
        return event.alternatives[0].text

    return asyncio.run(recognise())


@pytest.fixture
def voiced(org, skillbase_factory, minimal_config):
    """The test skillbase, spoken and heard by the local speech providers."""
    minimal_config["voice"] = {"stt_provider": "local", "stt_model": "tiny.en", "tts_provider": "local", "tts_model": "piper",
                               "tts_voice": "", "language": "en-US"}  # fmt: skip
    minimal_config["flow"]["voicemail"] = {"action": "leave_message", "message": "Please call Test Clinic back."}
    return skillbase_factory(org, name="Voiced", config=minimal_config)


@pytest.fixture
def agent_name(settings) -> str:
    """A name of its own for each test's agent worker: the server may still count a stopped
    worker of an earlier test for a moment, and must not hand it this test's call."""
    import uuid

    settings.LIVEKIT_AGENT_NAME = f"newvoice-agent-{uuid.uuid4().hex[:8]}"
    return settings.LIVEKIT_AGENT_NAME


def wait_for(condition, *, seconds: float, what) -> None:
    """Wait until ``condition()``; else fail saying ``what`` (text, or a function that tells)."""
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(what() if callable(what) else what)
        time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_the_agent_holds_a_real_call_by_voice_and_the_call_is_measured(real_livekit, dial, voiced, agent_name):
    """The whole production path: the livekit dialer, the real server dispatching the call to a
    ``run_agent`` worker, the SIP service ringing the phone; the agent greets in its local voice,
    the phone answers "yes" aloud, the agent hears it through local recognition, confirms and ends
    the call; the call's events and metrics are written and the room is gone."""
    require_local_speech()
    import os

    from campaigns.models import CallLog
    from tests.support.real_livekit import agent_worker
    from tests.support.rtp_phone import RtpPhone

    yes = spoken("Yes, sure.")
    # The phone answers and listens: a «Hello?» at the answer can land on the greeting's first words
    # and cut it off (answer supervision, where the greeting waits for the answer's words, is its own
    # issue); the greeting heard whole is what this call measures.
    with agent_worker(real_livekit, agent_name=agent_name, redis_url=os.environ["REDIS_URL"]), RtpPhone() as callee:
        call = dial(callee, skillbase=voiced)
        wait_for(lambda: callee.first_audio_at is not None and callee.quiet_for(1.2), seconds=60, what="the phone never heard the greeting")
        greeted_after = callee.first_audio_at - callee.answered_at
        greeting_heard = bytes(callee.heard)
        callee.say(yes)
        wait_for(lambda: Call.objects.filter(pk=call.pk, status=Call.Status.ENDED).exists(), seconds=60, what="the call did not end")
    call.refresh_from_db()
    kinds = list(CallLog.objects.filter(call=call).order_by("seq").values_list("kind", flat=True))
    lines = list(CallLog.objects.filter(call=call, kind="transcript").order_by("seq").values_list("role", "text"))
    assert call.outcome == Outcome.SUCCESS, (call.outcome, call.error, lines)
    assert kinds[0] == "call_started" and "answered" in kinds and kinds[-1] == "call_ended"
    assert ("assistant", "Hello Anna, this is Test Clinic. Can you come tomorrow?") in lines
    assert any(role == "user" and "yes" in text.lower() for role, text in lines), lines
    assert call.metrics.talk_seconds > 0 and call.metrics.first_greeting_ms is not None
    assert call.room_name not in rooms(real_livekit)
    assert 0 < greeted_after < 10, greeted_after
    # What the phone heard is the greeting: recognised offline, from the audio that crossed the call.
    # (Over 8 kHz G.711 tiny.en now and then writes "Tess Klinic": most of the line's words must be there.)
    heard = heard_as_text(greeting_heard).lower()
    assert len({"hello", "anna", "clinic", "come", "tomorrow"} & set(re.findall(r"[a-z]+", heard))) >= 4, heard
    # The agent recorded both sides through the room: the phone's "yes" on the left,
    # its own greeting and goodbye on the right, about as long as the conversation.
    from campaigns.models import CallRecording
    from tests.test_voice_calls import channel_levels

    recording = CallRecording.objects.get(call=call)
    talk = (call.ended_at - call.answered_at).total_seconds()
    assert recording.available and talk - 10 < recording.seconds <= talk + 1, (recording.seconds, talk)
    left, right = channel_levels(recording.file.path)
    assert left > 50 and right > 50, (left, right)
    recording.file.delete(save=False)


@pytest.mark.django_db(transaction=True)
def test_an_agent_killed_mid_call_leaves_the_call_lost_and_its_contact_retried(real_livekit, dial, voiced, agent_name, settings):
    """``kill -9`` of the agent worker (and its job process) in the middle of a real call: its lease
    runs out, the reaper ends the call as lost, hangs the phone up through the real server, and the
    contact waits for its next attempt with no call live meanwhile."""
    require_local_speech()
    import datetime as dt
    import os

    from django.utils import timezone

    from campaigns.dispatch import reap
    from tests.support.real_livekit import agent_worker
    from tests.support.rtp_phone import RtpPhone

    settings.NEWVOICE_CALL_LEASE_SECONDS = 10
    with agent_worker(real_livekit, agent_name=agent_name, redis_url=os.environ["REDIS_URL"], NEWVOICE_CALL_LEASE_SECONDS="10") as worker:
        with RtpPhone(plays=spoken("Hello?")) as callee:
            call = dial(callee, skillbase=voiced)
            wait_for(lambda: callee.first_audio_at is not None, seconds=60, what="the phone never heard the greeting")
            worker.kill_everything()
            call.refresh_from_db()
            assert call.status == Call.Status.IN_PROGRESS
            wait_for(lambda: timezone.now() > Call.objects.get(pk=call.pk).lease_expires_at, seconds=30, what="the lease never ran out")
            assert reap(timezone.now() + dt.timedelta(seconds=1)) == 1
            assert callee.ended.wait(timeout=20), callee.events  # the phone got its BYE
    call.refresh_from_db()
    task = CallTask.objects.get(pk=call.task_id)
    assert (call.status, call.outcome) == (Call.Status.ENDED, Outcome.LOST)
    assert task.status == CallTask.Status.PENDING and not task.calls.filter(status__in=Call.LIVE_STATUSES).exists()
    assert call.room_name not in rooms(real_livekit)


@pytest.mark.django_db(transaction=True)
def test_a_voicemail_greeting_and_beep_get_the_skillbase_s_voicemail_message(real_livekit, dial, voiced, agent_name):
    """Answering-machine detection on a real call: the phone plays a voicemail greeting and a beep;
    the agent leaves the skillbase's message after it and the call ends as voicemail."""
    require_local_speech()
    import os

    from tests.support.real_livekit import agent_worker
    from tests.support.rtp_phone import RtpPhone, rms, tone

    greeting = spoken(
        "Hi, you have reached the voicemail of Anna Smith. I cannot take your call right now. Please leave a message after the tone."
    )
    from campaigns.models import CallLog

    beep = tone(0.6, frequency=1000, level=0.5)
    with agent_worker(real_livekit, agent_name=agent_name, redis_url=os.environ["REDIS_URL"]) as worker:
        with RtpPhone(plays=greeting + beep) as callee:
            call = dial(callee, skillbase=voiced)

            def story() -> str:
                events = CallLog.objects.filter(call=call).order_by("seq").values_list("kind", "role", "text", "data")
                return "\n".join(map(str, events)) + "\n" + worker.output()[-5000:]

            wait_for(lambda: Call.objects.filter(pk=call.pk, status=Call.Status.ENDED).exists(), seconds=90, what=story)
            after_the_beep = bytes(callee.heard[len(greeting) + len(beep) :])  # the phone hears from the answer on
            told = story()
    call.refresh_from_db()
    lines = list(CallLog.objects.filter(call=call, kind="transcript", role="assistant").values_list("text", flat=True))
    assert call.outcome == Outcome.VOICEMAIL, (call.outcome, call.error, told)
    assert lines and lines[-1] == "Please call Test Clinic back.", told
    assert rms(after_the_beep) > 300, told  # the message reached the machine after its beep


@pytest.mark.django_db(transaction=True)
def test_an_agent_worker_told_to_stop_finishes_its_live_call_first(real_livekit, dial, voiced, agent_name):
    """SIGTERM to ``run_agent`` in the middle of a real call: the worker drains (takes no new call),
    the conversation goes on to its end, and only then does the worker exit."""
    require_local_speech()
    import os
    import signal

    from tests.support.real_livekit import agent_worker
    from tests.support.rtp_phone import RtpPhone

    with agent_worker(real_livekit, agent_name=agent_name, redis_url=os.environ["REDIS_URL"]) as worker:
        with RtpPhone(plays=spoken("Hello?")) as callee:
            call = dial(callee, skillbase=voiced)
            wait_for(
                lambda: callee.first_audio_at is not None and callee.quiet_for(1.2), seconds=60, what="the phone never heard the greeting"
            )
            worker.process.send_signal(signal.SIGTERM)
            wait_for(lambda: "draining worker" in worker.output(), seconds=10, what="the worker did not start draining")
            assert worker.process.poll() is None  # still holding the call
            callee.say(spoken("Yes, sure."))
            wait_for(lambda: Call.objects.filter(pk=call.pk, status=Call.Status.ENDED).exists(), seconds=60, what="the call did not end")
        worker.process.wait(timeout=60)
    call.refresh_from_db()
    assert call.outcome == Outcome.SUCCESS, (call.outcome, call.error)
