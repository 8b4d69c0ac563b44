"""What the flow engine understands: intents in Russian and English, and time phrases."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from voiceagent.flow.fields import extract
from voiceagent.flow.matching import BUILTIN_PHRASES, best_intent, compile_phrases, match_intents, normalise, sounds_like_voicemail
from voiceagent.flow.when import parse_when

PHRASES = compile_phrases(
    {
        **BUILTIN_PHRASES,
        # A script's own yes and no, in place of the built-in ones: these tests are about matching.
        "yes": {"ru": ["да", "конечно", "давайте", "интересно", "хочу"], "en": ["yes", "sure", "I can make it"]},
        "no": {"ru": ["нет", "не интересно", "не надо"], "en": ["no", "I can't make it"]},
        "cancel": {"en": ["cancel"]},
    }
)
MOSCOW = ZoneInfo("Europe/Moscow")
TUESDAY_NOON = dt.datetime(2026, 11, 24, 12, 0, tzinfo=MOSCOW)


def test_normalise_folds_case_yo_and_punctuation_but_keeps_apostrophes():
    assert normalise("  Ёлки-палки, DON'T  call!!! ") == "елки палки don't call"


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Да, конечно!", "yes"),
        ("ДАВАЙТЕ", "yes"),
        ("давай", "yes"),  # a form of "давайте"
        ("дам знать", None),  # short words match only exactly: "дам" is not "да"
        ("не интересно", "no"),  # the longer phrase wins over "интересно"
        ("я не хочу", None),  # a negated phrase does not count
        ("Перезвоните мне завтра", "callback"),
        ("перезвонить можете?", "callback"),  # another word form
        ("больше мне не звоните пожалуйста", "opt_out"),
        ("Please don't call me again", "opt_out"),
        ("no, I can't make it", "no"),  # "can't" is not a form of "cancel"
        ("I can make it", "yes"),
    ],
)
def test_intents(text, intent):
    assert best_intent(text, PHRASES, ["yes", "no", "cancel", "callback", "opt_out"]) == intent


def test_match_intents_reports_the_longest_phrase_per_intent():
    assert match_intents("больше не звоните", PHRASES) == {"opt_out": 3}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Абонент не может ответить, оставьте сообщение после сигнала", True),
        ("You have reached Dana. Please leave a message after the tone.", True),
        ("Да, слушаю вас", False),
        ("Hello?", False),
    ],
)
def test_voicemail_greetings(text, expected):
    assert sounds_like_voicemail(text) is expected


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("завтра в 17:00", "ru", (25, 17, 0)),
        ("завтра после пяти", "ru", (25, 17, 0)),
        ("перезвоните завтра в 5 вечера", "ru", (25, 17, 0)),
        ("в пятницу в 10", "ru", (27, 10, 0)),
        ("давайте в среду в 15:30", "ru", (25, 15, 30)),
        ("послезавтра утром", "ru", (26, 10, 0)),
        ("через 2 часа", "ru", (24, 14, 0)),
        ("25 ноября в 11:00", "ru", (25, 11, 0)),
        ("в 10", "ru", (25, 10, 0)),  # 10:00 has passed today: tomorrow
        ("tomorrow after 5", "en", (25, 17, 0)),
        ("call me back tomorrow at 3pm", "en", (25, 15, 0)),
        ("on friday at 10am", "en", (27, 10, 0)),
        ("in two hours", "en", (24, 14, 0)),
        ("the day after tomorrow in the morning", "en", (26, 10, 0)),
        # Times as speech-to-text writes them: separated by a dash or a space, or in words.
        ("завтра в 15-30", "ru", (25, 15, 30)),
        ("завтра в 15 30", "ru", (25, 15, 30)),
        ("завтра в 15.30", "ru", (25, 15, 30)),
        ("завтра в пятнадцать тридцать", "ru", (25, 15, 30)),
        ("завтра в три тридцать", "ru", (25, 15, 30)),
        ("в двадцать один сорок пять", "ru", (24, 21, 45)),
        ("завтра в семнадцать ноль ноль", "ru", (25, 17, 0)),
        ("завтра в 15 часов 30 минут", "ru", (25, 15, 30)),
        ("в половине четвёртого", "ru", (24, 15, 30)),
        ("завтра в четверть шестого", "ru", (25, 17, 15)),
        ("завтра без пятнадцати пять", "ru", (25, 16, 45)),
        ("завтра без четверти десять утра", "ru", (25, 9, 45)),
        ("послезавтра в восемь утра", "ru", (26, 8, 0)),
        ("через 2 часа 30 минут", "ru", (24, 14, 30)),
        ("tomorrow at three thirty", "en", (25, 15, 30)),
        ("tomorrow at half past three", "en", (25, 15, 30)),
        ("quarter to five tomorrow", "en", (25, 16, 45)),
    ],
)
def test_time_phrases_in_the_callees_zone(text, language, expected):
    moment = parse_when(text, language=language, tz="Europe/Moscow", now=TUESDAY_NOON)
    assert moment is not None and (moment.day, moment.hour, moment.minute) == expected
    assert moment.tzinfo is not None and moment.utcoffset() == dt.timedelta(hours=3)


@pytest.mark.parametrize("text", ["да", "перезвоните", "не знаю", ""])
def test_no_time_named(text):
    assert parse_when(text, language="ru", tz="Europe/Moscow", now=TUESDAY_NOON) is None


def test_times_across_a_daylight_saving_change_keep_the_local_hour():
    new_york = ZoneInfo("America/New_York")
    saturday = dt.datetime(2026, 10, 31, 12, 0, tzinfo=new_york)  # DST ends on Sunday, November 1
    moment = parse_when("tomorrow at 9am", language="en", tz="America/New_York", now=saturday)
    assert (moment.day, moment.hour) == (1, 9)
    assert moment.utcoffset() == dt.timedelta(hours=-5) and saturday.utcoffset() == dt.timedelta(hours=-4)


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        ("number", "мне нужно 3 места", "3"),
        ("email", "пишите на Anna.Ivanova@Example.com", "anna.ivanova@example.com"),
        ("phone", "мой номер 8 912 345-67-89", "+79123456789"),
        ("yes_no", "нет, не надо", "no"),
        ("yes_no", "да, верно", "yes"),
        ("text", "Красный", "Красный"),
        ("date", "в пятницу", "2026-11-27"),
        ("time", "в 15:30", "15:30"),
    ],
)
def test_field_extraction(kind, text, value):
    found = extract(kind, text, language="ru-RU", tz="Europe/Moscow", now=TUESDAY_NOON)
    assert found is not None and found[0] == value


def test_field_extraction_finds_nothing_where_there_is_nothing():
    assert extract("datetime", "не знаю", language="ru-RU", tz="Europe/Moscow", now=TUESDAY_NOON) is None
    assert extract("email", "нет почты", language="ru-RU", tz="Europe/Moscow") is None
