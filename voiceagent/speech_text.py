"""Text as a voice should say it: numbers, times, dates and prices written out in words, and the
punctuation that trips synthesisers («», dashes) simplified. Russian and English.

Festival's Russian voice says nothing at all for a sentence with «», an em dash or "15:30"; every
voice reads "1500 ₽" badly. The bot's lines pass through here before any local voice speaks them.
"""

from __future__ import annotations

import re

from num2words import num2words

_QUOTES = re.compile(r"[«»“”„\"]")
_DASH = re.compile(r"\s+[—–-]\s+|[—–]")
_TIME = re.compile(r"\b([01]?\d|2[0-3])[:.]([0-5]\d)\b(?!\.\d)")
_DATE = re.compile(r"\b(0?[1-9]|[12]\d|3[01])\.(0?[1-9]|1[0-2])(?:\.(\d{4}))?\b")
_PRICE_RU = re.compile(r"(\d[\d\s]*\d|\d)\s*(?:₽|руб(?:лей|ля|ль)?\.?|р\.)(?=[\s,.!?;:]|$)")
_PRICE_EN = re.compile(r"\$\s?(\d[\d,]*)(?:\.(\d{2}))?")
_GROUPED = re.compile(r"\b\d{1,3}(?:[  ]\d{3})+\b")  # 1 500, 12 000 000 (thin and no-break spaces too)
_NUMBER = re.compile(r"\d+")

_RU_MONTHS = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября", "ноября", "декабря")
_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")


def speakable(text: str, language: str) -> str:
    """``text`` as words a synthesiser reads correctly, for a language tag such as ``ru-RU``."""
    russian = language.lower().startswith("ru")
    text = _QUOTES.sub("", text)
    text = _DASH.sub(", ", text)
    text = _GROUPED.sub(lambda match: re.sub(r"\D", "", match.group(0)), text)
    if russian:
        text = _PRICE_RU.sub(lambda m: _ru_rubles(int(re.sub(r"\D", "", m.group(1)))), text)
        text = _DATE.sub(lambda m: _ru_date(int(m.group(1)), int(m.group(2)), m.group(3)), text)
        text = _TIME.sub(lambda m: _ru_time(int(m.group(1)), int(m.group(2))), text)
        text = _NUMBER.sub(lambda m: _ru_number(int(m.group(0))), text)
    else:
        text = _PRICE_EN.sub(lambda m: _en_dollars(int(m.group(1).replace(",", "")), int(m.group(2) or 0)), text)
        text = _TIME.sub(lambda m: _en_time(int(m.group(1)), int(m.group(2))), text)
        text = _NUMBER.sub(lambda m: num2words(int(m.group(0)), lang="en"), text)
    text = re.sub(r"\.\.(?!\.)", ".", text)  # "at nine p.m.." where the time ended the sentence
    return re.sub(r"\s{2,}", " ", text).strip()


def _ru_number(number: int) -> str:
    words = num2words(number, lang="ru")
    return words.removeprefix("одна ") if words.startswith("одна тысяча") else words


def _ru_plural(number: int, one: str, few: str, many: str) -> str:
    if number % 10 == 1 and number % 100 != 11:
        return one
    if 2 <= number % 10 <= 4 and not 12 <= number % 100 <= 14:
        return few
    return many


def _ru_rubles(amount: int) -> str:
    return f"{_ru_number(amount)} {_ru_plural(amount, 'рубль', 'рубля', 'рублей')}"


def _ru_time(hours: int, minutes: int) -> str:
    if minutes == 0:
        return f"{_ru_number(hours)} {_ru_plural(hours, 'час', 'часа', 'часов')}" if hours else "полночь"
    spoken_minutes = f"ноль {_ru_number(minutes)}" if minutes < 10 else _ru_number(minutes)
    return f"{_ru_number(hours)} {spoken_minutes}"


def _ru_ordinal_genitive(number: int) -> str:
    """3 → «третьего», 21 → «двадцать первого»: the day of a date («третьего декабря»)."""
    words = num2words(number, lang="ru", to="ordinal")
    for nominative, genitive in (("ий", "ьего"), ("ый", "ого"), ("ой", "ого")):
        if words.endswith(nominative):
            return words[: -len(nominative)] + genitive
    return words


def _ru_date(day: int, month: int, year: str | None) -> str:
    spoken = f"{_ru_ordinal_genitive(day)} {_RU_MONTHS[month - 1]}"
    if year:
        spoken += f" {_ru_ordinal_genitive(int(year))} года"
    return spoken


def _en_time(hours: int, minutes: int) -> str:
    half = "a.m." if hours < 12 else "p.m."
    clock = hours % 12 or 12
    if minutes == 0:
        return f"{num2words(clock, lang='en')} {half}"
    spoken_minutes = f"oh {num2words(minutes, lang='en')}" if minutes < 10 else num2words(minutes, lang="en")
    return f"{num2words(clock, lang='en')} {spoken_minutes} {half}"


def _en_dollars(dollars: int, cents: int) -> str:
    spoken = f"{num2words(dollars, lang='en')} {'dollar' if dollars == 1 else 'dollars'}"
    if cents:
        spoken += f" {num2words(cents, lang='en')} {'cent' if cents == 1 else 'cents'}"
    return spoken
