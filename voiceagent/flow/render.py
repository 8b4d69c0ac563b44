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


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def render(template: str, variables: dict[str, Any]) -> str:
    """The template with its ``{variables}``; a missing one is left out without stray punctuation."""
    if not template:
        return ""
    text = string.Formatter().vformat(template, (), _Blank({k: "" if v is None else v for k, v in variables.items()}))
    text = _EMPTY_CLAUSE.sub(r"\1", _GAPS.sub(r"\1", text))
    return re.sub(r"\s{2,}", " ", text).strip()


def say_datetime(moment: dt.datetime, language: str) -> str:
    if language.lower().startswith("ru"):
        return f"{RU_WEEKDAYS[moment.weekday()]}, {moment.day} {RU_MONTHS[moment.month - 1]}, в {moment:%H:%M}"
    hour = moment.strftime("%I:%M %p").lstrip("0")
    return f"{moment:%A}, {moment:%B} {moment.day} at {hour}"
