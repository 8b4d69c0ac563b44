"""Simulated callees against the real agent: every persona, both demo scripts and one written here.

Nothing of ours is mocked: each human or voicemail persona talks to the production SkillbaseAgent in
a livekit AgentSession whose replies play out through the simulator's audio output, and a barge-in
is cut short by livekit itself.
"""

import copy
import datetime as dt
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from skillbases.schemas import validate_config
from voiceagent.flow.conversation import Conversation
from voiceagent.flow.hours import OpeningHours
from voiceagent.simulated_audio import SimulatedClock, SimulatedPlayout, speaking_seconds
from voiceagent.simulated_callee import PERSONAS, choose_persona, simulate_call
from voiceagent.text import TextConversation

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "newvoice" / "demo"

# A script unlike the demos: other intent names, three collecting steps, no callback, opt-out or
# silence steps (the engine's built-ins handle those), a plain fallback, and a voicemail hang-up.
PARCEL = {
    "context": {"role": "courier dispatcher", "company": "QuickBox", "goal": "arrange a parcel delivery", "language": "en-GB"},
    "flow": {
        "start": "hello",
        "steps": [
            {
                "id": "hello",
                "say": "Hello {name}, this is QuickBox about the parcels waiting for you. Shall we bring them over this week?",
                "transitions": [{"intent": "affirm", "goto": "ask_count"}, {"intent": "decline", "goto": "bye_no"}],
            },
            {
                "id": "ask_count",
                "say": "How many parcels are you expecting?",
                "collect": [{"field": "parcels", "type": "number"}],
                "transitions": [{"intent": "collected", "goto": "ask_email"}, {"intent": "decline", "goto": "bye_no"}],
            },
            {
                "id": "ask_email",
                "say": "Which email address should get the tracking link?",
                "collect": [{"field": "email", "type": "email"}],
                "transitions": [{"intent": "collected", "goto": "ask_when"}],
            },
            {
                "id": "ask_when",
                "say": "When would suit you?",
                "collect": [{"field": "delivery_at", "type": "datetime"}],
                "transitions": [{"intent": "collected", "goto": "done"}],
            },
            {"id": "done", "say": "Booked for {delivery_at}. Goodbye!", "end": True, "outcome": "success"},
            {"id": "bye_no", "say": "No problem at all, goodbye.", "end": True, "outcome": "refusal"},
        ],
        "intents": {"affirm": {"en": ["yes please", "go ahead", "that's fine"]}, "decline": {"en": ["no thank you", "not needed"]}},
        "fallback": {"retries": 1},
        "limits": {"max_turns": 8},
    },
}
SCRIPTS = {
    "salon": (json.loads((DEMO / "salon_ru.json").read_text(encoding="utf-8")), {"name": "Анна", "service": "маникюр"}, "Europe/Moscow"),
    "dental": (
        json.loads((DEMO / "dental_en.json").read_text(encoding="utf-8")),
        {"name": "John", "appointment_time": "Tuesday at 10 AM", "doctor": "Dr. Patel"},
        "America/New_York",
    ),
    "parcel": (PARCEL, {"name": "Sam"}, "Europe/London"),
}
BOOKED_FIELD = {"salon": "slot", "dental": "new_time", "parcel": "delivery_at"}


class RecordingHooks:
    def __init__(self):
        self.events = []
        self.opt_outs = 0

    async def event(self, kind, *, role="", text="", data=None):
        self.events.append((kind, role, text, data or {}))

    async def opted_out(self):
        self.opt_outs += 1

    async def hang_up(self):
        return None

    def of(self, kind):
        return [event for event in self.events if event[0] == kind]


def script(name, *, voicemail=None, voice=None):
    data, variables, timezone = SCRIPTS[name]
    data = copy.deepcopy(data)
    if voicemail is not None:
        data["flow"]["voicemail"] = voicemail
    if voice is not None:
        data.setdefault("voice", {}).update(voice)
    return validate_config(data), dict(variables), timezone


async def call(name, persona, *, speed=0, hooks=None, seed=1, **changes):
    config, variables, timezone = script(name, **changes)
    return await simulate_call(config, variables, persona, timezone=timezone, speed=speed, hooks=hooks, rng_seed=seed)


def tomorrow_at(timezone, hour):
    zone = ZoneInfo(timezone)
    day = dt.datetime.now(zone).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=zone)


def booked_at(name, hour):
    """What a willing callee asking for tomorrow at ``hour`` ends up booked for: that time when the
    business is open then, else the nearest open time the bot offers (and the callee takes)."""
    config, _variables, timezone = script(name)
    wanted = tomorrow_at(timezone, hour)
    hours = OpeningHours(config.context, callee_timezone=timezone)
    if hours.is_open(wanted):
        return wanted
    return hours.nearest(wanted, now=dt.datetime.now(dt.UTC)).astimezone(wanted.tzinfo)


def said(result, role):
    return [line.text for line in result.transcript if line.role == role]


def words(text):
    return text.split()


ALL_SCRIPTS = pytest.mark.parametrize("name", ["salon", "dental", "parcel"])


@ALL_SCRIPTS
async def test_agree_books_a_time(name):
    result = await call(name, "agree")
    assert (result.persona, result.outcome, result.answered) == ("agree", "success", True)
    assert result.collected[BOOKED_FIELD[name]] == booked_at(name, 15).isoformat()
    assert result.state.ended and result.steps_reached[-1] in {s["id"] for s in SCRIPTS[name][0]["flow"]["steps"] if s.get("end")}
    assert result.interruptions == 0 and result.transcript[0].role == "assistant"
    if name == "parcel":
        assert result.collected["parcels"] == "2" and result.collected["email"] == "client@example.com"


@ALL_SCRIPTS
async def test_refuse_ends_in_refusal(name):
    result = await call(name, "refuse")
    assert result.outcome == "refusal" and result.collected == {}
    # It goes the shortest way: one answer to the greeting.
    assert len(said(result, "user")) == 1


@ALL_SCRIPTS
async def test_callback_is_scheduled_for_tomorrow_after_five_in_the_contacts_zone(name):
    result = await call(name, "callback")
    assert result.outcome == "callback_requested"
    assert result.callback_at == tomorrow_at(SCRIPTS[name][2], 17)
    phrase = "завтра после пяти" if name == "salon" else "tomorrow after five"
    assert phrase in said(result, "user")[0].lower()


@ALL_SCRIPTS
async def test_opt_out_is_recorded_and_reaches_the_hooks(name):
    hooks = RecordingHooks()
    result = await call(name, "opt_out", hooks=hooks)
    assert result.outcome == "opted_out" and result.opted_out and result.state.opted_out
    assert hooks.opt_outs == 1


@ALL_SCRIPTS
async def test_silent_ends_as_no_response_through_the_fallback(name):
    result = await call(name, "silent")
    assert result.outcome == "no_response" and result.state.ended
    assert set(said(result, "user")) == {""}
    if name == "parcel":  # no silence steps: asked whether it can be heard (retries: 1), then the engine gives up
        assert said(result, "assistant")[1] == "Hello, can you hear me? Shall we bring them over this week?"
        assert result.steps_reached == ["hello"]
    else:  # the demos' own path: still_there, then their no_response ending
        assert result.steps_reached[-2:] == ["still_there", "no_response"]


@pytest.mark.parametrize("name", ["salon", "dental"])
async def test_voicemail_leaves_the_scripts_message(name):
    config, variables, timezone = script(name)
    result = await simulate_call(config, variables, "voicemail", timezone=timezone, speed=0)
    assert result.outcome == "voicemail" and result.answered and result.state.voicemail
    machine = said(result, "user")[0]
    assert ("сообщение" in machine) if name == "salon" else ("leave a message" in machine)
    message = Conversation(config, variables, timezone=timezone).engine.voicemail_message(result.state)
    assert message and said(result, "assistant")[-1] == message


@ALL_SCRIPTS
async def test_voicemail_with_hang_up_leaves_nothing(name):
    result = await call(name, "voicemail", voicemail={"action": "hang_up", "message": ""})
    assert result.outcome == "voicemail"
    # Only the greeting, said before the machine was heard; nothing after it.
    assert [line.role for line in result.transcript] == ["assistant", "user"]


@pytest.mark.parametrize(
    ("persona", "outcome", "low", "high"),
    [("busy", "busy", 2, 6), ("no_answer", "no_answer", 30, 30), ("invalid", "invalid_number", 0.5, 1.5), ("declined", "declined", 4, 15)],
)
async def test_lines_that_never_answer_only_ring(persona, outcome, low, high):
    hooks = RecordingHooks()
    result = await call("salon", persona, hooks=hooks)
    assert (result.outcome, result.answered, result.transcript, result.state) == (outcome, False, [], None)
    assert low <= result.ring_seconds <= high and result.talk_seconds == 0
    assert hooks.events == []


@ALL_SCRIPTS
async def test_interrupt_cuts_the_bot_short_and_the_history_keeps_only_what_was_heard(name):
    hooks = RecordingHooks()
    result = await call(name, "interrupt", hooks=hooks)
    assert result.outcome == "success"
    config, variables, timezone = script(name)
    greeting = Conversation(config, variables, timezone=timezone).greeting()
    first = result.transcript[0]
    assert first.role == "assistant" and first.interrupted
    assert 0 < len(words(first.text)) < len(words(greeting)) and words(greeting)[: len(words(first.text))] == words(first.text)
    interruptions = hooks.of("interruption")
    assert len(interruptions) == result.interruptions >= 1
    _kind, role, text, data = interruptions[0]
    assert (role, text, data["heard"], data["full"], data["step"]) == ("assistant", first.text, first.text, greeting, config.flow.start)
    for _kind, _role, _text, data in interruptions:
        assert words(data["full"])[: len(words(data["heard"]))] == words(data["heard"]) and data["heard"] != data["full"]


async def test_no_barge_in_when_the_script_disallows_interruptions():
    result = await call("salon", "interrupt", voice={"allow_interruptions": False})
    assert result.outcome == "success" and result.interruptions == 0


async def test_a_text_conversation_reports_the_interrupted_line():
    config, variables, timezone = script("dental")
    playout = SimulatedPlayout(SimulatedClock(0))
    talk = TextConversation(
        config, variables, timezone=timezone, tts=playout.tts, audio_output=playout.audio_output, transcription_output=playout.text_output
    )

    def barge_in_after_five_words(playback):
        if len(words(playback.heard)) < 5 or playback.segment != 1:
            return False
        talk.session.interrupt()
        return True

    playout.listener = barge_in_after_five_words
    async with talk:
        lines = await talk.send("Yes, I'll be there")
        history = [item for item in talk.session.history.items if item.type == "message"]
    await playout.aclose()
    (greeting,) = talk.greeting
    assert greeting.kind == "say" and greeting.interrupted and greeting.text == "Hi John, this is Emma"
    assert (history[0].role, history[0].interrupted, history[0].text_content) == ("assistant", True, greeting.text)
    assert lines[-1].tool == "end_call" and not any(line.interrupted for line in lines)
    assert talk.state.outcome == "success"


def test_persona_is_the_contacts_own_when_it_names_a_valid_one():
    mix = {"agree": 1}
    assert choose_persona({"persona": "refuse"}, mix, 7, 1) == "refuse"
    assert choose_persona({"persona": " No-Answer "}, mix, 7, 1) == "no_answer"
    assert choose_persona({"persona": "pirate"}, mix, 7, 1) == "agree"
    assert choose_persona({}, {}, 7, 1) in PERSONAS


def test_persona_choice_is_deterministic_and_follows_the_mix():
    mix = {"agree": 60, "refuse": 25, "busy": 10, "voicemail": 5, "unknown": 50, "silent": 0}
    draws = [choose_persona({}, mix, 42, task_id) for task_id in range(1000)]
    assert draws == [choose_persona({"name": "x"}, mix, 42, task_id) for task_id in range(1000)]
    counts = Counter(draws)
    assert set(counts) == {"agree", "refuse", "busy", "voicemail"}
    for persona, share in {"agree": 0.6, "refuse": 0.25, "busy": 0.1, "voicemail": 0.05}.items():
        assert abs(counts[persona] / 1000 - share) < 0.05, counts
    other_seed = [choose_persona({}, mix, 43, task_id) for task_id in range(1000)]
    assert other_seed != draws


def test_persona_choice_is_the_same_in_another_process():
    mix = {"agree": 3, "refuse": 2, "callback": 1}
    here = [choose_persona({}, mix, 5, task_id) for task_id in range(30)]
    code = (
        f"from voiceagent.simulated_callee import choose_persona; print(','.join(choose_persona({{}}, {mix!r}, 5, t) for t in range(30)))"
    )
    env = {"PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "newvoice.settings"}
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=ROOT)
    assert there.stdout.strip().split(",") == here


async def test_speed_zero_never_sleeps():
    started = time.monotonic()
    result = await call("salon", "agree", speed=0)
    assert result.slept_seconds == 0 and result.talk_seconds > 30
    # Minutes of simulated talk in well under a second of real time.
    assert time.monotonic() - started < (result.ring_seconds + result.talk_seconds) * 0.01


async def test_speed_makes_the_call_take_time_in_proportion_to_the_words():
    started = time.monotonic()
    result = await call("salon", "agree", speed=0.01)
    elapsed = time.monotonic() - started
    # Every line of the transcript took its words' time to say, both sides (livekit's TTS framing
    # adds a 10 ms marker after each sentence the bot says).
    spoken = sum(speaking_seconds(line.text) for line in result.transcript)
    assert result.talk_seconds == pytest.approx(spoken, rel=0.01)
    assert result.slept_seconds == pytest.approx((result.ring_seconds + result.talk_seconds) * 0.01, abs=1e-3)
    assert elapsed >= result.slept_seconds > 0.3


async def test_a_persona_whose_goal_the_script_cannot_reach_still_ends_within_the_limits():
    config, variables, timezone = script("parcel")
    data = config.model_dump()
    data["flow"]["steps"] = [s for s in data["flow"]["steps"] if s["id"] != "bye_no"]
    for step in data["flow"]["steps"]:
        step["transitions"] = [t for t in step["transitions"] if t["goto"] != "bye_no"]
    stubborn = validate_config(data)
    result = await simulate_call(stubborn, variables, "refuse", timezone=timezone, speed=0)
    assert result.state.ended and result.outcome == "no_response"
    assert len(said(result, "user")) <= stubborn.flow.limits.max_turns + stubborn.flow.fallback.retries + 1


async def test_unknown_persona_is_refused():
    config, variables, timezone = script("salon")
    with pytest.raises(ValueError, match="Unknown persona 'pirate'"):
        await simulate_call(config, variables, "pirate", timezone=timezone, speed=0)


def _simulated_call_row():
    from campaigns.models import Call, CallTask, Campaign
    from skillbases.models import Skillbase
    from tenancy.models import Organization

    org = Organization.objects.create(name="Lilia", slug="lilia")
    data = SCRIPTS["salon"][0]
    skillbase = Skillbase(organization=org, name="Salon", **{k: data[k] for k in ("context", "flow", "voice", "llm")})
    skillbase.save()
    campaign = Campaign.objects.create(organization=org, name="Spring", skillbase=skillbase, status=Campaign.Status.RUNNING)
    task = CallTask.objects.create(
        organization=org, campaign=campaign, phone="+79123450001", name="Анна", variables={"service": "маникюр"},
        timezones=["Europe/Moscow"], status=CallTask.Status.IN_PROGRESS, attempts=1,
    )  # fmt: skip
    return Call.objects.create(
        organization=org, campaign=campaign, task=task, attempt=1, skillbase_version=skillbase.current_version,
        phone=task.phone, dialer="simulator", is_simulated=True, persona="interrupt", status=Call.Status.IN_PROGRESS,
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
async def test_a_barge_in_is_logged_with_the_call():
    from asgiref.sync import sync_to_async
    from django.db import connections

    from campaigns.models import CallLog
    from voiceagent.telemetry import CallTelemetry

    row = await sync_to_async(_simulated_call_row)()
    telemetry = CallTelemetry(row)
    result = await call("salon", "interrupt", hooks=telemetry)
    await telemetry.flush()
    log = [(e.kind, e.role, e.text, e.data) async for e in CallLog.objects.filter(call=row).order_by("seq")]
    assert log[0][:2] == ("answered", "") and log[0][3]["persona"] == "interrupt"
    cut = [(text, data) for kind, _role, text, data in log if kind == "interruption"]
    assert [text for text, _data in cut] == [line.text for line in result.transcript if line.interrupted]
    assert all(data["full"].startswith(data["heard"]) for _text, data in cut)
    bot_lines = [(text, data["interrupted"]) for kind, role, text, data in log if kind == "transcript" and role == "assistant"]
    assert bot_lines == [(line.text, line.interrupted) for line in result.transcript if line.role == "assistant"]
    # The ORM ran in sync_to_async's thread: close its connection, or PostgreSQL cannot drop the test database.
    await sync_to_async(connections.close_all)()
