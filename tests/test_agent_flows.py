"""Every step and branch of both demo skillbases, through the production agent in text mode."""

import copy
import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from skillbases.schemas import validate_config
from voiceagent.text import TextConversation

DEMO = Path(__file__).resolve().parent.parent / "newvoice" / "demo"
SALON = json.loads((DEMO / "salon_ru.json").read_text(encoding="utf-8"))
DENTAL = json.loads((DEMO / "dental_en.json").read_text(encoding="utf-8"))
SALON_CONTACT = {"name": "Анна", "service": "маникюр"}
DENTAL_CONTACT = {"name": "Dana", "appointment_time": "Thursday at 10 AM", "doctor": "Dr. Lee"}


async def talk(raw: dict, contact: dict, lines: list[str], *, tz: str = "Europe/Moscow"):
    config = validate_config({k: raw[k] for k in ("context", "flow", "voice", "llm")})
    chat = TextConversation(config, contact, timezone=tz)
    said, tools = [], []
    try:
        for line in await chat.start():
            said.append(line.text)
        for text in lines:
            assert not chat.ended, f"the call ended before {text!r}"
            for line in await chat.send(text):
                (said.append(line.text) if line.kind == "say" else tools.append(line.tool))
        return chat.state, said, tools
    finally:
        await chat.aclose()


def tomorrow_at(hour: int, minute: int = 0, tz: str = "Europe/Moscow") -> dt.datetime:
    day = dt.datetime.now(ZoneInfo(tz)).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ZoneInfo(tz))


def next_weekday_at(weekday: int, hour: int, tz: str) -> dt.datetime:
    """The coming ``weekday`` (0 = Monday; a week ahead when it is today) at ``hour``."""
    today = dt.datetime.now(ZoneInfo(tz)).date()
    day = today + dt.timedelta(days=(weekday - today.weekday()) % 7 or 7)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=ZoneInfo(tz))


# The salon


async def test_salon_booking_with_directions():
    state, said, tools = await talk(SALON, SALON_CONTACT, ["Да, слушаю", "давайте", "завтра в 15:30", "да, подскажите"])
    assert state.steps_reached == ["greeting", "offer", "pick_time", "booked", "directions"]
    assert (state.outcome, state.ended) == ("success", True)
    assert state.collected == {"slot": tomorrow_at(15, 30).isoformat()}
    assert said[0].startswith("Здравствуйте, Анна!") and "маникюр" in said[0]
    assert said[-2].startswith("Записала вас на ") and "15:30" in said[-2]
    assert tools == ["goto_step", "goto_step", "record_field", "goto_step", "goto_step", "end_call"]


async def test_salon_booking_via_prices_then_farewell():
    state, said, _tools = await talk(SALON, SALON_CONTACT, ["а сколько стоит?", "ну давайте запишусь", "в субботу в 11", "нет, спасибо"])
    assert state.steps_reached == ["greeting", "price_info", "pick_time", "booked", "farewell"]
    assert state.outcome == "success" and said[-1].startswith("Спасибо, Анна!")


async def test_salon_refusal():
    state, said, _tools = await talk(SALON, SALON_CONTACT, ["нет, не интересно"])
    assert (state.steps_reached, state.outcome) == (["greeting", "refusal"], "refusal")
    assert said[-1].startswith("Поняла вас, Анна")


async def test_salon_refusal_at_the_time_question():
    state, _said, _tools = await talk(SALON, SALON_CONTACT, ["да", "да", "нет, не надо"])
    assert state.steps_reached[-1] == "refusal" and state.outcome == "refusal"


async def test_salon_callback_with_the_time_in_one_phrase():
    state, said, tools = await talk(SALON, SALON_CONTACT, ["Перезвоните мне завтра после пяти"])
    assert state.callback_at == tomorrow_at(17)
    assert state.outcome == "callback_requested"
    assert state.steps_reached == ["greeting", "callback_when", "callback_scheduled"]
    assert "schedule_callback" in tools and "в среду" not in said[-1] or "17:00" in said[-1]
    assert "17:00" in said[-1]


async def test_salon_callback_asks_when_then_schedules():
    state, _said, tools = await talk(SALON, SALON_CONTACT, ["сейчас неудобно", "завтра утром"])
    assert state.steps_reached == ["greeting", "callback_when", "callback_scheduled"]
    assert state.callback_at == tomorrow_at(10)
    assert tools.count("schedule_callback") == 1


async def test_salon_callback_without_a_time():
    state, said, _tools = await talk(SALON, SALON_CONTACT, ["сейчас неудобно", "позже"])
    assert state.steps_reached[-1] == "callback_later" and state.outcome == "callback_requested"
    assert state.callback_at is None
    assert said[-1] == "Хорошо, перезвоню попозже. Хорошего дня!"


@pytest.mark.parametrize("turns", [["не звоните мне больше"], ["да", "удалите мой номер"], ["да", "да", "хватит звонить"]])
async def test_salon_opt_out_from_any_step(turns):
    state, said, tools = await talk(SALON, SALON_CONTACT, turns)
    assert state.opted_out and state.outcome == "opted_out" and state.steps_reached[-1] == "opted_out"
    assert "opt_out" in tools and said[-1].startswith("Извините за беспокойство")


async def test_salon_fallback_reprompts_then_gives_up():
    state, said, _tools = await talk(SALON, SALON_CONTACT, ["ммм", "эээ", "ыы"])
    assert said[1:3] == ["Простите, не совсем поняла. Повторите, пожалуйста?"] * 2
    # Nothing understood is not a failure of the engine: its own outcome, retried by the policy.
    assert state.steps_reached == ["greeting", "not_understood"] and state.outcome == "no_response"


async def test_salon_what_repeats_the_step():
    state, said, _tools = await talk(SALON, SALON_CONTACT, ["что?"])
    assert said[1] == said[0] and state.steps_reached == ["greeting"] and state.misses == 0


async def test_salon_reprompt_then_understood():
    state, _said, _tools = await talk(SALON, SALON_CONTACT, ["что?", "да"])
    assert state.steps_reached == ["greeting", "offer"] and not state.ended


async def test_salon_silence_path():
    state, said, _tools = await talk(SALON, SALON_CONTACT, ["", ""])
    assert state.steps_reached == ["greeting", "still_there", "no_response"] and state.outcome == "no_response"
    assert said[1] == "Алло, Анна, вы меня слышите?"


async def test_salon_max_turns_ends_the_call():
    raw = copy.deepcopy(SALON)
    raw["flow"]["limits"]["max_turns"] = 2
    raw["flow"]["fallback"]["retries"] = 5
    state, _said, _tools = await talk(raw, SALON_CONTACT, ["что?", "что?", "что?"])
    assert state.steps_reached[-1] == "not_understood" and state.outcome == "no_response"


async def test_salon_voicemail_leaves_the_message():
    state, said, tools = await talk(SALON, SALON_CONTACT, ["Абонент не может ответить. Оставьте сообщение после сигнала."])
    assert (state.outcome, state.voicemail, state.ended) == ("voicemail", True, True)
    assert tools == ["handle_voicemail"]
    assert said[-1].startswith("Здравствуйте, Анна! Это Алина из салона") and "маникюр" in said[-1]


async def test_salon_voicemail_hang_up_says_nothing():
    raw = copy.deepcopy(SALON)
    raw["flow"]["voicemail"] = {"action": "hang_up", "message": ""}
    state, said, _tools = await talk(raw, SALON_CONTACT, ["Вы позвонили Анне, оставьте сообщение"])
    assert state.outcome == "voicemail" and len(said) == 1


async def test_a_missing_contact_name_leaves_no_stray_punctuation():
    _state, said, _tools = await talk(SALON, {"service": "маникюр"}, [])
    assert said[0].startswith("Здравствуйте! Это Алина")


# The dental reminder


async def test_dental_confirm():
    state, said, _tools = await talk(DENTAL, DENTAL_CONTACT, ["Yes, I'll be there"], tz="America/New_York")
    assert (state.steps_reached, state.outcome) == (["reminder", "confirmed"], "success")
    assert "Dr. Lee" in said[0] and "Thursday at 10 AM" in said[0]


async def test_dental_reschedule():
    # A weekday afternoon: the clinic closes at 2 PM on Saturdays and all Sunday.
    state, said, _tools = await talk(DENTAL, DENTAL_CONTACT, ["I need to reschedule", "Wednesday at 3 pm"], tz="America/New_York")
    assert state.steps_reached == ["reminder", "pick_new_time", "rescheduled"] and state.outcome == "success"
    assert state.collected == {"new_time": next_weekday_at(2, 15, tz="America/New_York").isoformat()}
    assert "3:00 PM" in said[-1]


async def test_dental_no_then_cancel():
    state, _said, _tools = await talk(DENTAL, DENTAL_CONTACT, ["no, I can't make it", "no"], tz="America/New_York")
    assert state.steps_reached == ["reminder", "offer_reschedule", "cancelled"] and state.outcome == "refusal"


async def test_dental_no_then_new_time():
    state, _said, _tools = await talk(DENTAL, DENTAL_CONTACT, ["nope", "yes", "on friday at 10am"], tz="America/New_York")
    assert state.steps_reached == ["reminder", "offer_reschedule", "pick_new_time", "rescheduled"]


async def test_dental_cancel():
    state, _said, _tools = await talk(DENTAL, DENTAL_CONTACT, ["please cancel my appointment"], tz="America/New_York")
    assert state.steps_reached == ["reminder", "cancelled"] and state.outcome == "refusal"


async def test_dental_callback_and_opt_out():
    state, _said, _tools = await talk(DENTAL, DENTAL_CONTACT, ["I'm driving, call me back tomorrow at 9:30"], tz="America/New_York")
    assert state.callback_at == tomorrow_at(9, 30, tz="America/New_York") and state.outcome == "callback_requested"
    state, _said, _tools = await talk(DENTAL, DENTAL_CONTACT, ["stop calling me"], tz="America/New_York")
    assert state.opted_out and state.outcome == "opted_out"


async def test_dental_fallback_and_voicemail():
    state, _said, _tools = await talk(DENTAL, DENTAL_CONTACT, ["hmm", "umm", "err"], tz="America/New_York")
    assert state.outcome == "no_response" and state.steps_reached[-1] == "not_understood"
    state, said, _tools = await talk(DENTAL, DENTAL_CONTACT, ["You have reached Dana. Please leave a message after the tone."])
    assert state.outcome == "voicemail" and "Bright Smile" in said[-1]
