"""When the callee says "tomorrow after five" / «завтра после пяти»: a moment in their time zone.

dateparser reads calendar dates and relative expressions ("25 ноября", "через 2 часа", "in two
hours") well, but loses the time in everyday phrases ("после пяти", "в 5 вечера") and misreads bare
weekday-plus-hour. So times of day, parts of the day and weekdays are read here, and dateparser is
asked only for what is left.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import dateparser

from voiceagent.flow.matching import normalise

# Number words as speech-to-text writes them, in every case a time phrase uses ("в пять", "после
# пяти", "к пятнадцати"). Tens are followed by units ("двадцать один" is 21); "пятнадцать тридцать"
# is two numbers, an hour and its minutes.
_UNITS = {
    "ноль": 0, "нуля": 0, "один": 1, "одна": 1, "одну": 1, "одного": 1, "одной": 1, "одному": 1, "два": 2, "две": 2,
    "двух": 2, "двум": 2, "три": 3, "трех": 3, "трем": 3, "четыре": 4, "четырех": 4, "четырем": 4, "пять": 5, "пяти": 5,
    "шесть": 6, "шести": 6, "семь": 7, "семи": 7,
    "восемь": 8, "восьми": 8, "девять": 9, "девяти": 9,
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
}  # fmt: skip
_TEENS = {
    "десять": 10, "десяти": 10, "одиннадцать": 11, "одиннадцати": 11, "двенадцать": 12, "двенадцати": 12,
    "тринадцать": 13, "тринадцати": 13, "четырнадцать": 14, "четырнадцати": 14, "пятнадцать": 15, "пятнадцати": 15,
    "шестнадцать": 16, "шестнадцати": 16, "семнадцать": 17, "семнадцати": 17, "восемнадцать": 18, "восемнадцати": 18,
    "девятнадцать": 19, "девятнадцати": 19, "полдень": 12, "полудня": 12, "полночь": 0, "полуночи": 0,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "noon": 12, "midnight": 0,
}  # fmt: skip
_TENS = {
    "двадцать": 20, "двадцати": 20, "тридцать": 30, "тридцати": 30, "сорок": 40, "сорока": 40,
    "пятьдесят": 50, "пятидесяти": 50, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
}  # fmt: skip
# «в половине четвертого» is 3:30, «в четверть шестого» 5:15: the hour named is the one being entered.
_ORDINAL_HOURS = {
    "первого": 1, "второго": 2, "третьего": 3, "четвертого": 4, "пятого": 5, "шестого": 6, "седьмого": 7,
    "восьмого": 8, "девятого": 9, "десятого": 10, "одиннадцатого": 11, "двенадцатого": 12,
}  # fmt: skip
WEEKDAYS = {
    "понедельник": 0, "вторник": 1, "среду": 2, "среда": 2, "четверг": 3, "пятницу": 4, "пятница": 4,
    "субботу": 5, "суббота": 5, "воскресенье": 6,
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6,
}  # fmt: skip
DAY_OFFSETS = {"сегодня": 0, "today": 0, "tonight": 0, "завтра": 1, "tomorrow": 1, "послезавтра": 2}
PARTS_OF_DAY = {
    "утром": 10, "утра": None, "morning": 10, "днем": 14, "дня": None, "afternoon": 14,
    "вечером": 18, "вечера": None, "evening": 18, "tonight": 19, "ночи": None,
}  # fmt: skip
# "15:30", "15.30" and "15-30" as typed or transcribed; normalising would turn them into two numbers.
_RAW_CLOCK = re.compile(r"\b(\d{1,2})[:.\-](\d{2})\b")
_MARKER = r"(?:\s+(утра|дня|вечера|ночи|am|pm))?"
_PREPOSITION = r"(?:в|во|к|на|после|около|до|часов в|примерно в|где-то в|at|after|around|by|about|before|like|say|maybe)"
# Each gives (hour, minutes, marker) of a time of day; the first found wins.
_CLOCKS = (
    re.compile(r"\b(\d{1,2})h(\d{2})\b" + _MARKER),  # "15:30", "15-30"
    re.compile(r"\b(\d{1,2})\s*(?:часов|часа|час|hours|hour)\s+(\d{1,2})\s*(?:минут|минуты|минуту|minutes)?\b" + _MARKER),
    re.compile(r"(?:^|(?<=\s))(\d{1,2})\s(\d{2})\b" + _MARKER),  # "в 15 30", "пятнадцать тридцать"
)
_HOUR = re.compile(
    r"\b" + _PREPOSITION + r"\s+(\d{1,2})(?:\s*(?:часов|часа|часам|часу|час|o'clock))?(?:\s*(утра|дня|вечера|ночи|am|pm))?\b"
    # "на 2 недели", "for 3 days", «к 5 числу»: a count, not a time of day.
    r"(?!\s*(?:недел|дн|день|месяц|минут|числ|человек|раз|процент|руб|week|day|month|minute|people|time|percent))"
)
# A part of the day said beside a bare hour: "Tuesday evening around eight", «утром, часов в девять».
_EVENING = re.compile(r"\b(?:вечером|вечера|evening|tonight|afternoon|днем|дня)\b")
_MORNING = re.compile(r"\b(?:утром|утра|morning)\b")
_BARE_PM = re.compile(r"\b(\d{1,2})\s*(am|pm|утра|дня|вечера|ночи)\b")
_HALF_QUARTER = re.compile(r"\b(?:в\s+)?(половине|пол|четверть)\s+(" + "|".join(_ORDINAL_HOURS) + r")\b" + _MARKER)
_TO_THE_HOUR = re.compile(r"\b(?:в\s+)?без\s+(четверти|\d{1,2})\s+(?:минут\s+)?(\d{1,2})\b" + _MARKER)
_PAST_TO = re.compile(r"\b(half|quarter|\d{1,2})\s+(?:minutes\s+)?(past|after|to|before)\s+(\d{1,2})\b" + _MARKER)
_DURATION_BEFORE = re.compile(r"\b(?:через|за|in|within)\s*$")
_DAY_AFTER_TOMORROW = re.compile(r"\bday after tomorrow\b")


def _digits(text: str) -> str:
    """Number words as digits: «в пятнадцать тридцать» → "в 15 30", "ноль ноль" → "00"."""
    tokens: list[str] = []
    for word in text.split():
        value = _UNITS.get(word, _TEENS.get(word, _TENS.get(word)))
        if value is None:
            tokens.append(word)
        elif word in _UNITS and tokens and tokens[-1] in _TENS_DIGITS and value > 0:
            tokens[-1] = str(int(tokens[-1]) + value)
        elif word in _UNITS and tokens and tokens[-1] == "0" and value >= 0:
            tokens[-1] = f"0{value}"  # «семнадцать ноль ноль», «девять ноль пять»
        else:
            tokens.append(str(value))
    return " ".join(tokens)


_TENS_DIGITS = {"20", "30", "40", "50"}


def _adjust(hour: int, marker: str | None) -> int:
    if marker in ("pm", "дня", "вечера") and hour < 12:
        return hour + 12
    if marker in ("am", "утра", "ночи"):
        return hour % 12 if marker == "am" and hour == 12 else hour
    # A bare "at 5" in a business conversation means the afternoon.
    return hour + 12 if 1 <= hour <= 7 else hour


def _clock(hour: int, minute: int, marker: str | None) -> dt.time | None:
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return dt.time(_adjust(hour, marker) % 24, minute)


def _spoken_clock(text: str) -> tuple[dt.time | None, re.Match | None]:
    """A time said with its minutes: "15 30", «половине четвертого», «без четверти пять», "quarter to five"."""
    for pattern in _CLOCKS:
        for match in pattern.finditer(text):
            if _DURATION_BEFORE.search(text[: match.start()]):
                continue  # «через 2 часа 30 минут» is a while from now, not a time of day
            moment = _clock(int(match.group(1)), int(match.group(2)), match.group(3))
            if moment is not None:
                return moment, match
    match = _HALF_QUARTER.search(text)
    if match:
        minute = 15 if match.group(1) == "четверть" else 30
        return _clock(_ORDINAL_HOURS[match.group(2)] - 1, minute, match.group(3)), match
    match = _TO_THE_HOUR.search(text)
    if match:
        before = 15 if match.group(1) == "четверти" else int(match.group(1))
        hour = int(match.group(2))
        if 0 < before < 60 and 1 <= hour <= 24:
            return _clock(hour - 1, 60 - before, match.group(3)), match
    match = _PAST_TO.search(text)
    if match:
        minutes = {"half": 30, "quarter": 15}.get(match.group(1)) or int(match.group(1))
        hour = int(match.group(3))
        if match.group(2) in ("to", "before"):
            hour, minutes = hour - 1, 60 - minutes
        if 0 < minutes < 60 and 0 <= hour <= 23:
            return _clock(hour, minutes, match.group(4)), match
    return None, None


def _time_of_day(text: str) -> tuple[dt.time | None, str]:
    """The time mentioned and the text with it removed."""
    moment, match = _spoken_clock(text)
    if moment is not None and match is not None:
        return moment, text[: match.start()] + " " + text[match.end() :]
    for pattern in (_HOUR, _BARE_PM):
        match = pattern.search(text)
        if match:
            hour = int(match.group(1))
            if 0 <= hour <= 23:
                marker = match.group(2)
                if marker is None and hour <= 12:
                    marker = "pm" if _EVENING.search(text) else "am" if _MORNING.search(text) else None
                hour = _adjust(hour, marker)
                return dt.time(hour % 24, 0), pattern.sub(" ", text, count=1)
    for word, hour in PARTS_OF_DAY.items():
        if hour is not None and re.search(rf"\b{word}\b", text):
            return dt.time(hour, 0), text
    return None, text


def _day(text: str, now: dt.datetime, language: str) -> dt.date | None:
    if _DAY_AFTER_TOMORROW.search(text):
        return now.date() + dt.timedelta(days=2)
    tokens = text.split()
    for word, offset in DAY_OFFSETS.items():
        if word in tokens:
            return now.date() + dt.timedelta(days=offset)
    for word, weekday in WEEKDAYS.items():
        if word in tokens:
            ahead = (weekday - now.weekday()) % 7 or 7
            return now.date() + dt.timedelta(days=ahead)
    return None


# Words that can start a date dateparser should read; text with none of them and no digit names no
# date, and dateparser's search (milliseconds) is skipped.
_DATE_HINTS = re.compile(
    r"\d|через|недел|месяц|январ|феврал|март|апрел|ма[йя]|июн|июл|август|сентябр|октябр|ноябр|декабр|"
    r"\bin\b|next|week|month|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
)


def _relative_or_calendar(text: str, now: dt.datetime, language: str) -> dt.datetime | None:
    settings = {
        "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": now.replace(tzinfo=None),
        "RETURN_AS_TIMEZONE_AWARE": False,
        "PREFER_DAY_OF_MONTH": "first",
    }
    from dateparser.search import search_dates

    if not _DATE_HINTS.search(text):
        return None
    found = search_dates(text, languages=[language], settings=settings) or []
    for fragment, moment in found:
        if any(ch.isalpha() for ch in fragment):  # a bare number is an hour, not a date
            return moment.replace(tzinfo=now.tzinfo)
    return None


# A day gone by: «вчера», «в прошлый вторник», "last Monday", "two days ago". Never read as the next one.
_PAST = re.compile(
    r"\b(?:вчера|позавчера|прошл\w*|назад|yesterday|ago|last\s+(?:week|night|month|year|monday|tuesday|wednesday|thursday|friday|saturday|sunday))\b"
)


def _moment(text: str, zone: ZoneInfo, now: dt.datetime, language: str) -> dt.datetime | None:
    """The moment the text names, past or future; None when it names none."""
    lang = language.split("-")[0].lower()
    clean = _digits(normalise(_RAW_CLOCK.sub(r"\1h\2", text)))
    time_of_day, rest = _time_of_day(clean)
    day = _day(rest, now, lang)
    if day is None and time_of_day is None:
        return _relative_or_calendar(rest, now, lang)
    if day is None:
        calendar = _relative_or_calendar(rest, now, lang)
        day = calendar.date() if calendar else now.date()
    moment = dt.datetime.combine(day, time_of_day or now.time().replace(second=0, microsecond=0), tzinfo=zone)
    if moment <= now and time_of_day is not None and _day(rest, now, lang) is None:
        moment += dt.timedelta(days=1)  # "at 10" said at 11:00 means tomorrow
    return moment


def parse_when(text: str, *, language: str, tz: str, now: dt.datetime | None = None) -> dt.datetime | None:
    """The future moment the text names, aware in ``tz``; None when it names none (or a past one)."""
    zone = ZoneInfo(tz)
    now = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    if _PAST.search(normalise(text)):
        return None
    moment = _moment(text, zone, now, language)
    return moment if moment and moment > now else None


def names_past(text: str, *, language: str, tz: str, now: dt.datetime | None = None) -> bool:
    """Whether the text names a moment already gone («вчера в три», «сегодня в девять» said at eleven)."""
    if _PAST.search(normalise(text)):
        return True
    zone = ZoneInfo(tz)
    now = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    moment = _moment(text, zone, now, language)
    return moment is not None and moment <= now


def names_time_of_day(text: str) -> bool:
    """Whether the text says a time of day ("at three", «в 15:30», «вечером»), not only a day."""
    return _time_of_day(_digits(normalise(_RAW_CLOCK.sub(r"\1h\2", text))))[0] is not None


def warm_up() -> None:
    """Load dateparser's Russian and English data now, not on a callee's first time phrase (~0.2 s)."""
    for language in ("ru", "en"):
        _relative_or_calendar("через час", dt.datetime.now(dt.UTC), language)


_ = dateparser
