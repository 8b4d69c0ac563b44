"""Filling a skillbase's templates and saying values the way people say them."""

from __future__ import annotations

import datetime as dt
import re
import string
from typing import Any

RU_WEEKDAYS = ["понедельник", "вторник", "среду", "четверг", "пятницу", "субботу", "воскресенье"]
RU_MONTHS = ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября", "ноября", "декабря"]
_GAPS = re.compile(r"\s+([,.!?])")
_EMPTY_CLAUSE = re.compile(r",\s*([.!?])")


# Words left dangling when the variable after them is empty: «на {service}», "with {doctor}".
_DANGLING = re.compile(
    r"(?:\s|^)(?:на|в|во|к|ко|с|со|по|о|об|обо|у|для|за|из|от|до|про|при|"
    r"on|at|with|for|to|in|of|about|the|a|an|your|by|from)\s*$",
    re.IGNORECASE,
)


def render(template: str, variables: dict[str, Any], fallbacks: dict[str, str] | None = None) -> str:
    """The template with its ``{variables}``. An empty one is said as its fallback phrase, or left out
    together with the preposition before it and any stray punctuation: never «на. Записать вас?»."""
    if not template:
        return ""
    fallbacks = fallbacks or {}
    pieces: list[str] = []
    for literal, name, _spec, _conversion in string.Formatter().parse(template):
        pieces.append(literal)
        if name is None:
            continue
        value = variables.get(name)
        text = "" if value is None else str(value).strip()
        if not text:
            text = fallbacks.get(name, "").strip()
        if not text:
            pieces[-1] = _DANGLING.sub("", pieces[-1])
        pieces.append(text)
    text = re.sub(r"(^\s*|[.!?]\s+)[,;:]\s*", r"\1", "".join(pieces))  # "{name}, hello" without a name
    text = _EMPTY_CLAUSE.sub(r"\1", _GAPS.sub(r"\1", text))
    text = re.sub(r"\s*—\s*([.!?])", r"\1", text)  # «хотим пригласить вас —.»
    return re.sub(r"\s{2,}", " ", text).strip()


def say_datetime(moment: dt.datetime, language: str) -> str:
    if language.lower().startswith("ru"):
        return f"{RU_WEEKDAYS[moment.weekday()]}, {moment.day} {RU_MONTHS[moment.month - 1]}, в {moment:%H:%M}"
    hour = moment.strftime("%I:%M %p").lstrip("0")
    return f"{moment:%A}, {moment:%B} {moment.day} at {hour}"
