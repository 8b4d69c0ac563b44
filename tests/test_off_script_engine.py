"""The parts behind the off-script behaviour: opening hours (validated, honoured, offered), variable
fallbacks, the new outcomes on the task and the campaign, facts in an LLM's instructions."""

import copy
import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from campaigns.actions import finish_call
from campaigns.models import CallTask, Campaign, Outcome
from campaigns.tasks import place_call
from skillbases.rendering import render
from skillbases.schemas import ConfigError, validate_config
from tests.support.engine import T0, Dispatcher, make_campaign, started, use_scripted_dialer
from voiceagent.agent import instructions_for
from voiceagent.flow.conversation import Conversation, ToolError
from voiceagent.flow.hours import OpeningHours

DEMO = Path(__file__).resolve().parent.parent / "newvoice" / "demo"
DENTAL = json.loads((DEMO / "dental_en.json").read_text(encoding="utf-8"))
SALON = json.loads((DEMO / "salon_ru.json").read_text(encoding="utf-8"))
NEW_YORK = ZoneInfo("America/New_York")


def config_of(raw):
    return validate_config({k: raw[k] for k in ("context", "flow", "voice", "llm")})


# Opening hours


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({"mon": ["9-18"]}, "'9-18' is not opening hours; write them like '09:00-21:00'."),
        ({"mon": ["18:00-09:00"]}, "'18:00-09:00' closes before it opens"),
        ({"tue": ["09:00-13:00", "12:00-18:00"]}, "tue: '09:00-13:00' and '12:00-18:00' overlap."),
        ({"wed": ["25:00-26:00"]}, "'25:00' in '25:00-26:00' is not a time of day."),
        ({"monday": ["09:00-18:00"]}, "context.opening_hours.monday"),
    ],
)
def test_opening_hours_are_validated_with_the_path(hours, message):
    raw = copy.deepcopy(DENTAL)
    raw["context"]["opening_hours"] = hours
    with pytest.raises(ConfigError) as caught:
        config_of(raw)
    assert message in str(caught.value)
    assert any(issue.path.startswith("context.opening_hours") for issue in caught.value.issues)


def test_an_unknown_business_zone_is_refused():
    raw = copy.deepcopy(DENTAL)
    raw["context"]["timezone"] = "Mars/Olympus"
    with pytest.raises(ConfigError, match="'Mars/Olympus' is not a time zone"):
        config_of(raw)


def test_hours_say_the_week_and_offer_the_nearest_open_time():
    hours = OpeningHours(config_of(DENTAL).context, callee_timezone="Europe/Moscow")
    assert hours.zone.key == "America/New_York"  # the clinic's zone, not the callee's
    assert hours.describe("en") == "we're open Monday to Friday 8 AM to 6 PM and on Saturday 9 AM to 2 PM"
    monday = dt.datetime(2026, 12, 7, 12, 0, tzinfo=NEW_YORK)
    now = monday - dt.timedelta(days=3)
    sunday_11 = dt.datetime(2026, 12, 6, 11, 0, tzinfo=NEW_YORK)
    assert not hours.is_open(sunday_11) and hours.is_open(monday)
    # Saturday 11:00 is a day nearer than Monday 11:00.
    assert hours.nearest(sunday_11, now=now) == dt.datetime(2026, 12, 5, 11, 0, tzinfo=NEW_YORK)
    # After closing: the last start an hour before it, that day.
    assert hours.nearest(dt.datetime(2026, 12, 8, 21, 0, tzinfo=NEW_YORK), now=now) == dt.datetime(2026, 12, 8, 17, 0, tzinfo=NEW_YORK)
    # Never too soon: at Saturday 13:40 the clinic closes within the lead, so Monday, in the evening asked for.
    late = dt.datetime(2026, 12, 5, 13, 40, tzinfo=NEW_YORK)
    assert hours.nearest(dt.datetime(2026, 12, 5, 20, 0, tzinfo=NEW_YORK), now=late) == dt.datetime(2026, 12, 7, 17, 0, tzinfo=NEW_YORK)
    assert hours.nearest(dt.datetime(2026, 12, 5, 13, 50, tzinfo=NEW_YORK), now=late) == dt.datetime(2026, 12, 7, 13, 50, tzinfo=NEW_YORK)
    russian = OpeningHours(config_of(SALON).context, callee_timezone="Asia/Novosibirsk")
    assert russian.describe("ru") == "мы работаем каждый день с 09:00 до 21:00"
    assert russian.describe("ru", dt.date(2026, 12, 6)) == "в воскресенье мы работаем с 09:00 до 21:00"


def test_an_llm_recording_a_closed_time_is_told_the_hours():
    conversation = Conversation(config_of(DENTAL), {"name": "Dana"}, timezone="America/New_York")
    conversation.goto_step("pick_new_time")
    now = dt.datetime(2026, 12, 3, 12, 0, tzinfo=NEW_YORK)
    with pytest.raises(ToolError, match=r"closed at Sunday, December 6 at 11:00 AM .*nearest open time is 2026-12-05T11:00:00-05:00"):
        conversation.record_field("new_time", "2026-12-06T11:00:00-05:00", now=now)
    with pytest.raises(ToolError, match="has already passed"):
        conversation.record_field("new_time", "2026-12-01T11:00:00-05:00", now=now)
    assert (
        conversation.record_field("new_time", "2026-12-07T11:00:00-05:00", now=now) == "Recorded new_time = Monday, December 7 at 11:00 AM."
    )


def test_a_callback_time_is_not_held_to_the_opening_hours():
    conversation = Conversation(config_of(DENTAL), {"name": "Dana"}, timezone="America/New_York")
    now = dt.datetime(2026, 12, 3, 12, 0, tzinfo=NEW_YORK)
    assert conversation.record_field("callback_at", "2026-12-06T20:00:00-05:00", now=now).startswith("Recorded callback_at")


def test_the_instructions_of_an_llm_carry_the_facts_hours_and_off_script_rules():
    conversation = Conversation(config_of(DENTAL), {"name": "Dana", "doctor": "Dr. Lee"}, timezone="America/New_York")
    text = instructions_for(conversation)
    assert "- Your appointment is on  with Dr. Lee." not in text and "Your appointment is with Dr. Lee." in text
    assert "Opening hours (America/New_York): we're open Monday to Friday 8 AM to 6 PM" in text
    assert "virtual assistant" in text and "'human_requested'" in text and "'wrong_number'" in text and "'no_response'" in text


# Templates


def test_an_empty_variable_uses_its_fallback_or_goes_with_its_preposition():
    fallbacks = {"service": "одну из наших процедур"}
    assert (
        render("Хотим пригласить вас на {service}. Записать?", {}, fallbacks) == "Хотим пригласить вас на одну из наших процедур. Записать?"
    )
    assert render("Скидка 10 процентов на {service}. Записать вас?", {}) == "Скидка 10 процентов. Записать вас?"
    assert render("Your visit on {appointment_time} with {doctor}. See you!", {"doctor": "Dr. Lee"}) == "Your visit with Dr. Lee. See you!"
    assert render("{name}, hello. Bye, {name}!", {}) == "hello. Bye!"


def test_a_fallback_for_an_unknown_variable_is_refused():
    raw = copy.deepcopy(SALON)
    raw["flow"]["variable_fallbacks"] = {"servise": "процедуру"}
    with pytest.raises(ConfigError, match=r"Unknown variable '\{servise\}' \(did you mean '\{service\}'\?\)"):
        config_of(raw)


def test_a_fact_naming_an_unknown_variable_is_refused():
    raw = copy.deepcopy(DENTAL)
    raw["context"]["facts"].append("Bring {documents}.")
    with pytest.raises(ConfigError) as caught:
        config_of(raw)
    assert caught.value.issues[0].path == f"context.facts[{len(raw['context']['facts']) - 1}]"


# The new outcomes on the campaign


@pytest.fixture
def answered(settings, django_capture_on_commit_callbacks):
    use_scripted_dialer(settings)
    dispatch = Dispatcher(django_capture_on_commit_callbacks)

    def claim(now=T0) -> list[int]:
        ids = dispatch(now)
        for call_id in ids:
            place_call(call_id)
        return ids

    return claim


def test_a_wrong_number_is_never_dialled_again_for_that_contact(org, skillbase, answered):
    campaign = started(make_campaign(org, skillbase, contacts=1, variables={"line": "answer"}))
    task = campaign.tasks.get()
    CallTask.objects.filter(pk=task.pk).update(other_phones=["+79160000099"])
    (call_id,) = answered(T0)
    finish_call(call_id, outcome=Outcome.WRONG_NUMBER)
    task.refresh_from_db()
    assert (task.status, task.wrong_phones, task.number_to_dial) == (CallTask.Status.PENDING, [task.phone], "+79160000099")
    (second,) = answered(T0 + dt.timedelta(seconds=1))
    finish_call(second, outcome=Outcome.WRONG_NUMBER)
    task.refresh_from_db()
    # No number of theirs is left: done, not failed, and not dialled again.
    assert (task.status, task.outcome, len(task.wrong_phones)) == (CallTask.Status.COMPLETED, Outcome.WRONG_NUMBER, 2)
    assert answered(T0 + dt.timedelta(hours=5)) == []


def test_silent_calls_do_not_pause_a_campaign_and_are_retried(org, skillbase, answered):
    campaign = started(make_campaign(org, skillbase, contacts=4, failure_threshold=0.5, failure_window=4, variables={"line": "answer"}))
    for call_id in answered(T0):
        finish_call(call_id, outcome=Outcome.NO_RESPONSE)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    task = campaign.tasks.first()
    assert task.status == CallTask.Status.PENDING and task.outcome == Outcome.NO_RESPONSE
    assert task.next_attempt_at >= timezone.now() + dt.timedelta(minutes=179)  # the default policy: 3 hours


@pytest.mark.parametrize(
    ("raw", "variables", "to_the_question", "line", "reply"),
    [
        (SALON, {"name": "Анна", "service": "маникюр"}, ["Да", "Да"], "Вчера в 15:00", "Это время уже прошло."),
        (SALON, {"name": "Анна", "service": "маникюр"}, ["Да", "Да"], "Сегодня в 9 утра", "Это время уже прошло."),
        (SALON, {"name": "Анна", "service": "маникюр"}, ["Да", "Да"], "В прошлый понедельник в 12", "Это время уже прошло."),
        (
            DENTAL,
            {"name": "John", "appointment_time": "Tuesday", "doctor": "Dr. Patel"},
            ["I need to reschedule"],
            "Yesterday at 3 pm",
            "That time has already passed.",
        ),
        (
            DENTAL,
            {"name": "John", "appointment_time": "Tuesday", "doctor": "Dr. Patel"},
            ["I need to reschedule"],
            "Last Monday at 10",
            "That time has already passed.",
        ),
    ],
)
def test_a_past_time_is_not_booked_and_the_question_comes_again(raw, variables, to_the_question, line, reply):
    """Said on a Monday at 11:00: «вчера», «сегодня в девять», "last Monday" are gone, never the next ones."""
    config = config_of(raw)
    zone = config.context.timezone
    monday = dt.datetime(2026, 12, 7, 11, 0, tzinfo=ZoneInfo(zone))
    conversation = Conversation(config, variables, timezone=zone, now=monday)
    engine, state = conversation.engine, conversation.state
    for said in to_the_question:
        for call in engine.decide(state, said, now=monday).calls:
            if call.name == "goto_step":
                conversation.goto_step(call.arguments["step"])
    asking = state.step
    decision = engine.decide(state, line, now=monday)
    assert decision.calls == [] and decision.end is None
    assert decision.say.startswith(reply) and decision.say.endswith(engine.question(engine.steps[asking], state))
    assert state.collected == {} and state.step == asking


def test_a_greeting_the_callee_spoke_over_is_said_again_rather_than_a_reprompt():
    conversation = Conversation(config_of(DENTAL), {"name": "Ann"}, timezone="UTC")
    engine, state = conversation.engine, conversation.state
    conversation.greeting_not_heard()  # «Hello?» over the greeting, before a word of it played
    first = engine.decide(state, "Go.")
    assert first.say == conversation.greeting() and state.misses == 0
    # For that line only: the next line not understood is asked again as usual.
    assert engine.decide(state, "Blorp.").say == engine.reprompt(state) and state.misses == 1


def test_a_greeting_spoken_over_but_answered_goes_on_as_usual():
    conversation = Conversation(config_of(DENTAL), {"name": "Ann"}, timezone="UTC")
    conversation.greeting_not_heard()
    conversation.engine.decide(conversation.state, "Yes, I'll be there.")
    assert not conversation.state.greeting_unheard
