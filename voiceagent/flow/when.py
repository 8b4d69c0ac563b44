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

NUMBER_WORDS = {
    "один": 1, "одного": 1, "час": 1, "два": 2, "двух": 2, "три": 3, "трех": 3, "четыре": 4, "четырех": 4,
    "пять": 5, "пяти": 5, "шесть": 6, "шести": 6, "семь": 7, "семи": 7, "восемь": 8, "восьми": 8,
    "девять": 9, "девяти": 9, "десять": 10, "десяти": 10, "одиннадцать": 11, "одиннадцати": 11,
    "двенадцать": 12, "двенадцати": 12, "полдень": 12, "полудня": 12,
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "noon": 12,
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
_RAW_CLOCK = re.compile(r"\b(\d{1,2})[:.](\d{2})\b")
_CLOCK = re.compile(r"\b(\d{1,2})h(\d{2})\b")  # "15:30" after normalising, which drops the colon
_HOUR = re.compile(
    r"\b(?:в|во|после|к|около|часов в|at|after|around|by|about)\s+(\d{1,2})(?:\s*(утра|дня|вечера|ночи|am|pm|часов|часа|час|o'clock))?\b"
)
_BARE_PM = re.compile(r"\b(\d{1,2})\s*(am|pm|утра|дня|вечера|ночи)\b")
_DAY_AFTER_TOMORROW = re.compile(r"\bday after tomorrow\b")


def _digits(text: str) -> str:
    return " ".join(str(NUMBER_WORDS[w]) if w in NUMBER_WORDS and w != "час" else w for w in text.split())


def _adjust(hour: int, marker: str | None) -> int:
    if marker in ("pm", "дня", "вечера") and hour < 12:
        return hour + 12
    if marker in ("am", "утра", "ночи"):
        return hour % 12 if marker == "am" and hour == 12 else hour
    # A bare "at 5" in a business conversation means the afternoon.
    return hour + 12 if 1 <= hour <= 7 else hour


def _time_of_day(text: str) -> tuple[dt.time | None, str]:
    """The time mentioned and the text with it removed."""
    for clock in _CLOCK.finditer(text):
        if int(clock.group(1)) < 24 and int(clock.group(2)) < 60:
            return dt.time(int(clock.group(1)), int(clock.group(2))), text[: clock.start()] + " " + text[clock.end() :]
    for pattern in (_HOUR, _BARE_PM):
        match = pattern.search(text)
        if match:
            hour = int(match.group(1))
            if 0 <= hour <= 23:
                hour = _adjust(hour, match.group(2))
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


def parse_when(text: str, *, language: str, tz: str, now: dt.datetime | None = None) -> dt.datetime | None:
    """The future moment the text names, aware in ``tz``; None when it names none."""
    zone = ZoneInfo(tz)
    now = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    lang = language.split("-")[0].lower()
    clean = _digits(normalise(_RAW_CLOCK.sub(r"\1h\2", text)))
    time_of_day, rest = _time_of_day(clean)
    day = _day(rest, now, lang)
    if day is None and time_of_day is None:
        moment = _relative_or_calendar(rest, now, lang)
        return moment if moment and moment > now else None
    if day is None:
        calendar = _relative_or_calendar(rest, now, lang)
        day = calendar.date() if calendar else now.date()
    moment = dt.datetime.combine(day, time_of_day or now.time().replace(second=0, microsecond=0), tzinfo=zone)
    if moment <= now and time_of_day is not None and _day(rest, now, lang) is None:
        moment += dt.timedelta(days=1)  # "at 10" said at 11:00 means tomorrow
    return moment if moment > now else None


def warm_up() -> None:
    """Load dateparser's Russian and English data now, not on a callee's first time phrase (~0.2 s)."""
    for language in ("ru", "en"):
        _relative_or_calendar("через час", dt.datetime.now(dt.UTC), language)


_ = dateparser
